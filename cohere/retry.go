package cohere

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryPolicy bounds the retries the client makes on its own. Long waits (a
// rate limit that lasts minutes, a monthly cap) belong to the caller; the
// client only absorbs short, transient failures.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts per call, the first included.
	// 1 disables retries. Default 4.
	MaxAttempts int

	// BaseDelay is the backoff ceiling before the second attempt; it doubles
	// with each further attempt. Default 500ms.
	BaseDelay time.Duration

	// MaxDelay caps the exponential backoff ceiling. Default 10s.
	MaxDelay time.Duration

	// MaxRetryAfter caps a server's Retry-After: the client waits at most
	// this long, then tries again. Default 60s.
	MaxRetryAfter time.Duration

	// NoRetryRateLimited returns every 429 at once instead of retrying it,
	// for callers whose own shared rate limiter must see each one (a 429 is
	// still IsRetryable for them). Default false: 429s are retried.
	NoRetryRateLimited bool

	// Jitter picks the actual wait in [0, ceiling) ("full jitter"). Default:
	// uniformly random. Tests may make it deterministic.
	Jitter func(ceiling time.Duration) time.Duration `json:"-"`

	// Sleep waits for d or until ctx is done, whichever comes first, and
	// returns ctx.Err() in the latter case. Default: a timer selected against
	// ctx.Done(). Tests may record waits instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error `json:"-"`
}

// WithDefaults returns a copy of p with every zero field set to its default.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay == 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.MaxRetryAfter == 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if p.Jitter == nil {
		p.Jitter = fullJitter
	}
	if p.Sleep == nil {
		p.Sleep = sleepCtx
	}
	return p
}

func (p RetryPolicy) validate() error {
	switch {
	case p.MaxAttempts < 1:
		return fmt.Errorf("Retry.MaxAttempts must be at least 1, got %d", p.MaxAttempts)
	case p.BaseDelay < 0:
		return fmt.Errorf("Retry.BaseDelay must not be negative, got %s", p.BaseDelay)
	case p.MaxDelay < p.BaseDelay:
		return fmt.Errorf("Retry.MaxDelay (%s) must be at least Retry.BaseDelay (%s)", p.MaxDelay, p.BaseDelay)
	case p.MaxRetryAfter < 0:
		return fmt.Errorf("Retry.MaxRetryAfter must not be negative, got %s", p.MaxRetryAfter)
	}
	return nil
}

// delay is the wait before attempt number next (2 for the first retry).
// A server's Retry-After wins over the backoff, up to MaxRetryAfter.
func (p RetryPolicy) delay(next int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, p.MaxRetryAfter)
	}
	ceiling := p.BaseDelay
	for i := 2; i < next && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	if ceiling <= 0 {
		return 0
	}
	return p.Jitter(ceiling)
}

func fullJitter(ceiling time.Duration) time.Duration {
	return time.Duration(rand.Int64N(int64(ceiling)))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
