package cohere

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Client calls the Cohere API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	// root is BaseURL without a trailing slash; paths are appended to it.
	root string
	now  func() time.Time
}

// New validates cfg, fills in its defaults and returns a client.
func New(cfg Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("cohere: config: %w", err)
	}
	root := strings.TrimRight(cfg.BaseURL, "/")
	base, err := url.Parse(root)
	if err != nil {
		return nil, fmt.Errorf("cohere: config: BaseURL: %w", err)
	}
	return &Client{cfg: cfg, base: base, root: root, now: time.Now}, nil
}

// Format keeps the API key out of any printout of the client.
func (c *Client) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "cohere.Client{BaseURL:%q}", c.root)
}

// request is one JSON call. body is already encoded so that every attempt
// sends the same bytes.
type request struct {
	method string
	// path is escaped and starts with "/"; it is appended to BaseURL.
	path  string
	query url.Values
	body  []byte
	// out receives the decoded response; nil discards it.
	out any
}

func (r *request) op() string { return r.method + " " + r.path }

// call encodes in (if not nil) as JSON, performs the call with retries and
// decodes the response into out (if not nil).
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	r := &request{method: method, path: path, query: query, out: out}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("cohere: %s: encode request: %w", r.op(), err)
		}
		r.body = b
	}
	return c.retry(ctx, r.op(), func(ctx context.Context) error { return c.attempt(ctx, r) })
}

// retry runs fn until it succeeds, fails in a way not worth retrying, or
// the attempts run out. It never waits after the last attempt, and every
// wait ends when ctx does.
func (c *Client) retry(ctx context.Context, op string, fn func(context.Context) error) error {
	p := c.cfg.Retry
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			if !errors.Is(err, ctx.Err()) {
				err = fmt.Errorf("%w: %w", ctx.Err(), err)
			}
			return fmt.Errorf("cohere: %s: %w", op, err)
		}
		if attempt >= p.MaxAttempts || !c.shouldRetry(err) {
			return wrapAttempts(op, attempt, err)
		}
		var retryAfter time.Duration
		if apiErr, ok := errors.AsType[*APIError](err); ok {
			retryAfter = apiErr.RetryAfter
		}
		wait := p.delay(attempt+1, retryAfter)
		if deadline, ok := ctx.Deadline(); ok && c.now().Add(wait).After(deadline) {
			// The caller would be gone before the next attempt could start.
			return wrapAttempts(op, attempt, err)
		}
		c.cfg.Logger.DebugContext(ctx, "cohere retry", "op", op, "attempt", attempt, "wait", wait, "err", err)
		if serr := p.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("cohere: %s: %w (after attempt %d: %w)", op, serr, attempt, err)
		}
	}
}

// shouldRetry applies the client's own retry rules on top of IsRetryable.
func (c *Client) shouldRetry(err error) bool {
	if _, final := errors.AsType[*finalError](err); final {
		return false
	}
	if c.cfg.Retry.NoRetryRateLimited && IsRateLimited(err) {
		return false
	}
	return IsRetryable(err)
}

func wrapAttempts(op string, attempts int, err error) error {
	if attempts == 1 {
		return fmt.Errorf("cohere: %s: %w", op, err)
	}
	return fmt.Errorf("cohere: %s: %d attempts: %w", op, attempts, err)
}

// attempt performs one HTTP exchange of r under the per-attempt timeout.
func (c *Client) attempt(ctx context.Context, r *request) error {
	actx, cancel := context.WithTimeoutCause(ctx, c.cfg.Timeout, errAttemptTimeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, c.endpoint(r.path, r.query), body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	c.setHeaders(req)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return c.transportError(ctx, actx, err)
	}
	defer closeBody(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newAPIError(resp, c.cfg.APIKey, c.now(), c.cfg.Retry.MaxRetryAfter)
	}
	return c.decode(ctx, actx, resp.Body, resp.ContentLength, r.out)
}

// decode reads a 2xx response into out (nil discards it).
func (c *Client) decode(ctx, actx context.Context, body io.Reader, size int64, out any) error {
	if out == nil {
		return nil
	}
	// The announced length only refuses early: it is never allocated.
	limit := c.cfg.MaxResponseBytes
	if size > limit {
		return fmt.Errorf("response announces %d bytes, more than the %d of MaxResponseBytes", size, limit)
	}
	buf := getBuffer()
	defer putBuffer(buf)
	if h, ok := out.(interface{ bodySize() int }); ok && h.bodySize() > 0 {
		// An answer that can estimate its size (EmbedResponse) is read
		// into a buffer of that size from the start; ReadFrom grows one
		// that has less than MinRead left.
		buf.Grow(int(min(int64(h.bodySize()), limit)) + bytes.MinRead)
	}
	if n, err := buf.ReadFrom(io.LimitReader(body, limit+1)); err != nil {
		return c.transportError(ctx, actx, fmt.Errorf("%w: read response: %w", errTransport, err))
	} else if n > limit {
		return fmt.Errorf("response body exceeds %d bytes (MaxResponseBytes)", limit)
	}
	if d, ok := out.(interface{ decodeJSON([]byte) error }); ok {
		if err := d.decodeJSON(buf.Bytes()); err != nil {
			return fmt.Errorf("decode response: %w", err)
		}
		return nil
	}
	if err := json.Unmarshal(buf.Bytes(), out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// transportError says whether a failed exchange timed out on its own
// (retryable) or because the caller gave up (not retryable).
func (c *Client) transportError(ctx, actx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	if cause := context.Cause(actx); errors.Is(cause, errAttemptTimeout) || errors.Is(cause, errStalled) {
		return fmt.Errorf("%w after %s: %w", cause, c.cfg.Timeout, err)
	}
	return err
}

func (c *Client) setHeaders(req *http.Request) {
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	req.Header.Set("X-Client-Name", c.cfg.ClientName)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "cobatch-cohere-go")
}

// endpoint joins BaseURL, an escaped path and a query.
func (c *Client) endpoint(path string, query url.Values) string {
	u := c.root + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u
}

// closeBody drains a little of what is left so the connection can be
// reused, then closes.
func closeBody(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

// Response buffers are pooled: embed responses are megabytes each and the
// pipeline makes them back to back. Nothing decoded aliases the buffer.
var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBuffer = 16 << 20

func getBuffer() *bytes.Buffer { return bufferPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	bufferPool.Put(b)
}

// pathEscape escapes one path segment (an id or a model name).
func pathEscape(s string) string { return url.PathEscape(s) }
