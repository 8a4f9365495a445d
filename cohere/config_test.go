package cohere

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(Config{APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.cfg
	if cfg.BaseURL != "https://api.cohere.com" || cfg.ClientName != "cobatch" || cfg.Timeout != 60*time.Second || cfg.HTTPClient == nil || cfg.Logger == nil {
		t.Errorf("defaults: %+v", cfg)
	}
	r := cfg.Retry
	if r.MaxAttempts != 4 || r.BaseDelay != 500*time.Millisecond || r.MaxDelay != 10*time.Second || r.MaxRetryAfter != 60*time.Second || r.Jitter == nil || r.Sleep == nil {
		t.Errorf("retry defaults: %+v", r)
	}
	if cfg.HTTPClient.Timeout != 0 {
		t.Errorf("HTTPClient.Timeout = %s; an overall timeout would cut long uploads", cfg.HTTPClient.Timeout)
	}
	if got := c.endpoint("/v2/embed", nil); got != "https://api.cohere.com/v2/embed" {
		t.Errorf("endpoint = %q", got)
	}
	c2, _ := New(Config{APIKey: testKey, BaseURL: "http://h:1/proxy/"})
	if got := c2.endpoint("/v2/embed", nil); got != "http://h:1/proxy/v2/embed" {
		t.Errorf("endpoint with prefix = %q", got)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no key", Config{}, "APIKey is required"},
		{"key with newline", Config{APIKey: "a\nb"}, "line breaks"},
		{"bad scheme", Config{APIKey: "k", BaseURL: "ftp://x"}, "must start with http:// or https://"},
		{"no host", Config{APIKey: "k", BaseURL: "http://"}, "must have a host"},
		{"query", Config{APIKey: "k", BaseURL: "http://x/?a=b"}, "must not carry a query"},
		{"negative timeout", Config{APIKey: "k", Timeout: -time.Second}, "Config.Timeout must not be negative"},
		{"zero attempts", Config{APIKey: "k", Retry: RetryPolicy{MaxAttempts: -1}}, "Retry.MaxAttempts must be at least 1"},
		{"max below base", Config{APIKey: "k", Retry: RetryPolicy{BaseDelay: time.Minute, MaxDelay: time.Second}}, "Retry.MaxDelay (1s) must be at least Retry.BaseDelay (1m0s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	t.Parallel()
	cfg := Config{APIKey: testKey, BaseURL: "http://x"}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%q", "%x"} {
		out = append(out, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg), fmt.Sprintf(verb, c), fmt.Sprintf(verb, c.cfg))
	}
	enc, err := json.Marshal(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(enc))
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", cfg)
	out = append(out, logs.String())
	for _, s := range out {
		if strings.Contains(s, testKey) || strings.Contains(s, fmt.Sprintf("%x", testKey)) {
			t.Fatalf("key leaked: %s", s)
		}
	}
	if !strings.Contains(fmt.Sprint(cfg), "APIKey:<redacted>") || !strings.Contains(logs.String(), `"api_key_set":true`) {
		t.Errorf("redacted forms: %v / %s", cfg, logs.String())
	}
}

func TestAPIErrorBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		wantMsg string
	}{
		{"json", `{"id":"i","message":"m"}`, "m"},
		{"html from a proxy", "<html><body>Bad Gateway</body></html>", "<html><body>Bad Gateway</body></html>"},
		{"echoed key scrubbed", `{"message":"bad token Bearer ` + testKey + `"}`, "bad token Bearer <redacted>"},
		{"huge body truncated", strings.Repeat("x", 1<<20), strings.Repeat("x", 512) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, serveJSON(418, tt.body))
			_, err := b.client.CheckAPIKey(t.Context())
			if e, ok := errors.AsType[*APIError](err); !ok || e.Message != tt.wantMsg || e.StatusCode != 418 {
				t.Errorf("err = %v", err)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("key in error: %v", err)
			}
		})
	}
	e := &APIError{StatusCode: 429, ID: "abc", Message: "slow down"}
	if got := e.Error(); got != "cohere api: 429 Too Many Requests: slow down (id abc)" {
		t.Errorf("Error() = %q", got)
	}
}
