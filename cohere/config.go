package cohere

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by [Config.WithDefaults].
const (
	DefaultBaseURL       = "https://api.cohere.com"
	DefaultClientName    = "cobatch"
	DefaultTimeout       = 60 * time.Second
	DefaultMaxAttempts   = 4
	DefaultBaseDelay     = 500 * time.Millisecond
	DefaultMaxDelay      = 10 * time.Second
	DefaultMaxRetryAfter = 60 * time.Second
	// DefaultMaxResponseBytes bounds a success body: 30 times a 96-text
	// response of 1536 floats (about 2 MB).
	DefaultMaxResponseBytes = 64 << 20
)

// Config configures a [Client]. The zero value of every field but APIKey
// selects a default.
type Config struct {
	// BaseURL is the API root. It may carry a path prefix (for a proxy), e.g.
	// "http://host/proxy". Default "https://api.cohere.com".
	BaseURL string

	// APIKey is sent as a bearer token to BaseURL's host only. Required. It is
	// never logged, never part of an error, and Config prints it redacted.
	APIKey string `json:"-"`

	// ClientName is sent as the X-Client-Name header. Default "cobatch".
	ClientName string

	// HTTPClient performs the requests. Default: a client whose transport
	// bounds dialing, TLS handshakes and idle connections, with no overall
	// timeout (Timeout bounds each attempt instead).
	HTTPClient *http.Client `json:"-"`

	// Timeout bounds one attempt of a JSON call, from sending the request to
	// reading the whole response. Streaming calls (dataset upload, dataset
	// part download) use it as an inactivity timeout instead, so a large
	// transfer that keeps moving is never cut. Default 60s.
	Timeout time.Duration

	// Retry says which failures are retried and how long to wait between
	// attempts. Default: see [RetryPolicy].
	Retry RetryPolicy

	// Logger receives one debug record per retry. Default: discard.
	Logger *slog.Logger `json:"-"`

	// MaxResponseBytes bounds the body of a success response; a longer one
	// (or one announcing more) fails the call. Default 64 MiB.
	MaxResponseBytes int64

	// JSONFloats makes Embed ask for float embeddings as JSON numbers. By
	// default it asks for the same float32 bits as "base64", less than half
	// the bytes and much cheaper to decode, and fills Embeddings.Float.
	JSONFloats bool
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.ClientName == "" {
		c.ClientName = DefaultClientName
	}
	if c.HTTPClient == nil {
		c.HTTPClient = defaultHTTPClient()
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	c.Retry = c.Retry.WithDefaults()
	return c
}

func (c Config) validate() error {
	if c.APIKey == "" {
		return errors.New("APIKey is required")
	}
	if c.MaxResponseBytes < 0 {
		return fmt.Errorf("MaxResponseBytes must not be negative, got %d", c.MaxResponseBytes)
	}
	if strings.ContainsAny(c.APIKey, "\r\n") {
		return errors.New("APIKey must not contain line breaks")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		// url.Parse errors quote the input, which holds no secret.
		return fmt.Errorf("BaseURL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("BaseURL must start with http:// or https://, got %q", c.BaseURL)
	}
	if u.Host == "" {
		return fmt.Errorf("BaseURL must have a host, got %q", c.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("BaseURL must not carry a query, fragment or user info")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("Config.Timeout must not be negative, got %s", c.Timeout)
	}
	return c.Retry.validate()
}

// Format prints the config with the API key redacted, whatever the verb, so
// that a config logged by mistake leaks nothing.
func (c Config) Format(f fmt.State, verb rune) {
	key := "<unset>"
	if c.APIKey != "" {
		key = "<redacted>"
	}
	fmt.Fprintf(f, "cohere.Config{BaseURL:%q APIKey:%s ClientName:%q Timeout:%s Retry:%+v}",
		c.BaseURL, key, c.ClientName, c.Timeout, c.Retry)
}

// LogValue keeps the key out of slog output.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL),
		slog.Bool("api_key_set", c.APIKey != ""),
		slog.String("client_name", c.ClientName),
		slog.Duration("timeout", c.Timeout),
	)
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.IdleConnTimeout = 90 * time.Second
	// A pipeline runs many embed calls at once against one host.
	t.MaxIdleConnsPerHost = 32
	return &http.Client{Transport: t}
}
