package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultKey is the entry of a limits map that applies to every endpoint
// without an entry of its own.
const DefaultKey = "default"

// Limit is an allowance of Count units per period Per, in the unit the API
// counts for the endpoint: inputs (texts) for embed, requests for the rest.
type Limit struct {
	Count int
	Per   time.Duration
}

// String formats the limit as ParseLimits reads it back, e.g. "2000/1m0s".
func (l Limit) String() string {
	return strconv.Itoa(l.Count) + "/" + l.Per.String()
}

// PerSecond is the limit as units per second.
func (l Limit) PerSecond() float64 {
	if l.Per <= 0 {
		return 0
	}
	return float64(l.Count) / l.Per.Seconds()
}

func (l Limit) validate() error {
	if l.Count <= 0 {
		return fmt.Errorf("count %d is not positive", l.Count)
	}
	if l.Per <= 0 {
		return fmt.Errorf("period %s is not positive", l.Per)
	}
	return nil
}

// Defaults returns Cohere's documented production limits for a production key:
// embed 2,000 inputs a minute, rerank 1,000 requests a minute, embed jobs 50
// requests a minute, and 500 requests a minute for everything else, which
// the "default" entry carries. The map is a fresh copy the caller may change.
func Defaults() map[string]Limit {
	return map[string]Limit{
		"embed":      {Count: 2000, Per: time.Minute},
		"rerank":     {Count: 1000, Per: time.Minute},
		"classify":   {Count: 500, Per: time.Minute},
		"embed-jobs": {Count: 50, Per: time.Minute},
		"datasets":   {Count: 500, Per: time.Minute},
		DefaultKey:   {Count: 500, Per: time.Minute},
	}
}

// For returns the limit for endpoint from limits, falling back to its
// "default" entry and then to the documented default for everything else.
func For(limits map[string]Limit, endpoint string) Limit {
	if l, ok := limits[endpoint]; ok {
		return l
	}
	if l, ok := limits[DefaultKey]; ok {
		return l
	}
	return Defaults()[DefaultKey]
}

// ParseLimits reads a comma-separated list of endpoint=count/period entries,
// as given to -rate-limit: "embed=2000/1m,rerank=1000/1m". The period is a Go
// duration ("1m", "90s", "1h30m"); a bare unit stands for one of it, so
// "2000/m" is "2000/1m" (s, m and h are accepted). A period may not be left
// out: "2000/" and "2000" are errors, since a count alone does not say over
// what time the API counts it. Blank entries are ignored, an empty string
// gives an empty map, and a repeated endpoint is an error. Every error names
// the entry at fault.
func ParseLimits(s string) (map[string]Limit, error) {
	out := make(map[string]Limit)
	for raw := range strings.SplitSeq(s, ",") {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		name, l, err := parseEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: entry %q: %w", entry, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("ratelimit: entry %q: endpoint %q given twice", entry, name)
		}
		out[name] = l
	}
	return out, nil
}

func parseEntry(entry string) (string, Limit, error) {
	name, spec, ok := strings.Cut(entry, "=")
	if !ok {
		return "", Limit{}, errors.New("want endpoint=count/period")
	}
	name = strings.TrimSpace(name)
	if err := validEndpoint(name); err != nil {
		return "", Limit{}, err
	}
	countS, perS, ok := strings.Cut(strings.TrimSpace(spec), "/")
	if !ok {
		return "", Limit{}, errors.New("want count/period, e.g. 2000/1m")
	}
	countS, perS = strings.TrimSpace(countS), strings.TrimSpace(perS)
	count, err := strconv.Atoi(countS)
	if err != nil || count <= 0 {
		return "", Limit{}, fmt.Errorf("count %q is not a positive integer", countS)
	}
	per, err := parsePeriod(perS)
	if err != nil {
		return "", Limit{}, err
	}
	return name, Limit{Count: count, Per: per}, nil
}

func parsePeriod(s string) (time.Duration, error) {
	switch s {
	case "":
		return 0, errors.New("period is missing, e.g. 1m")
	case "s", "m", "h":
		s = "1" + s
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("period %q is not a duration like 1m or 90s", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("period %q is not positive", s)
	}
	return d, nil
}

// validEndpoint keeps names to what can sit inside a Redis key segment.
func validEndpoint(name string) error {
	if name == "" {
		return errors.New("endpoint name is empty")
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return fmt.Errorf("endpoint %q may hold only a-z, 0-9, '-', '_' and '.'", name)
		}
	}
	return nil
}

// KeyFingerprint identifies an API key in Redis keys, logs and metrics
// without revealing it: the first 16 hex digits of its SHA-256.
func KeyFingerprint(apiKey string) string {
	sum := sha256.Sum256([]byte(apiKey))
	return hex.EncodeToString(sum[:8])
}
