package cohere

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// APIError is a non-2xx answer from the API. Cohere's error bodies are
// {"id", "message"}; a body that is not JSON becomes Message, truncated.
type APIError struct {
	StatusCode int
	// ID is the request id the API assigned, for support tickets.
	ID      string
	Message string
	// RetryAfter is the server's Retry-After, capped at the client's
	// Retry.MaxRetryAfter (callers that wait on their own read it too); zero
	// when absent (Cohere's 429s carry none in practice).
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cohere api: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.ID != "" {
		b.WriteString(" (id ")
		b.WriteString(e.ID)
		b.WriteString(")")
	}
	return b.String()
}

// MonthlyLimit reports whether this is the 429 that says a key's monthly
// call allowance is used up. Waiting minutes does not help there, unlike the
// per-minute 429s, trial keys included ("limited to 40 API calls / minute").
func (e *APIError) MonthlyLimit() bool {
	if e.StatusCode != http.StatusTooManyRequests {
		return false
	}
	return strings.Contains(strings.ToLower(e.Message), "month")
}

// retryable is the client's own rule: transient server states and rate
// limits that pass within minutes.
func (e *APIError) retryable() bool {
	switch e.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case http.StatusTooManyRequests:
		return !e.MonthlyLimit()
	}
	return false
}

// IsRetryable reports whether err is worth retrying later: network errors,
// attempt timeouts, 500/502/503/504 and 429s other than the monthly cap. A
// cancelled or expired caller context is not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errAttemptTimeout) || errors.Is(err, errStalled) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return apiErr.retryable()
	}
	return isTransportError(err)
}

// IsRateLimited reports whether err is a 429 that passes with time (every
// 429 except the monthly cap, which [IsFatal] reports).
func IsRateLimited(err error) bool {
	apiErr, ok := errors.AsType[*APIError](err)
	return ok && apiErr.StatusCode == http.StatusTooManyRequests && !apiErr.MonthlyLimit()
}

// IsFatal reports whether err means no further call with this key can
// succeed until a human acts: 401 (bad or expired key), 402 (billing), 498
// (invalid token) and the monthly-cap 429.
func IsFatal(err error) bool {
	apiErr, ok := errors.AsType[*APIError](err)
	if !ok {
		return false
	}
	switch apiErr.StatusCode {
	case http.StatusUnauthorized, http.StatusPaymentRequired, 498:
		return true
	}
	return apiErr.MonthlyLimit()
}

var (
	errAttemptTimeout = errors.New("attempt timed out")
	errStalled        = errors.New("transfer stalled")
)

// isTransportError tells a network failure (retryable) from a local or
// configuration failure such as a certificate the client rejects.
func isTransportError(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) {
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, errTransport)
}

// errTransport marks failures of the exchange itself (a connection reset
// mid-body, a truncated body) that net.Error does not cover.
var errTransport = errors.New("transport failure")

// maxErrorBody bounds what is read of an error response.
const maxErrorBody = 64 << 10

// newAPIError builds an APIError from a non-2xx response, reading at most
// maxErrorBody bytes of its body. key is scrubbed from the message in case
// a proxy echoes the request back; Retry-After is capped at maxWait.
func newAPIError(resp *http.Response, key string, now time.Time, maxWait time.Duration) *APIError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &APIError{StatusCode: resp.StatusCode, RetryAfter: min(parseRetryAfter(resp.Header.Get("Retry-After"), now), maxWait)}
	var parsed struct {
		ID      string `json:"id"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &parsed) == nil && (parsed.Message != "" || parsed.ID != "") {
		e.ID, e.Message = parsed.ID, parsed.Message
	} else {
		e.Message = truncateText(strings.TrimSpace(string(body)), 512)
	}
	if key != "" {
		e.Message = strings.ReplaceAll(e.Message, key, "<redacted>")
	}
	return e
}

// parseRetryAfter reads delta-seconds or an HTTP date; anything else, or a
// moment already past, is zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 1e9 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
