package cohere

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Meta is the metadata block most responses carry.
type Meta struct {
	APIVersion   APIVersion  `json:"api_version"`
	BilledUnits  BilledUnits `json:"billed_units"`
	Tokens       Tokens      `json:"tokens"`
	CachedTokens float64     `json:"cached_tokens,omitempty"`
	Warnings     []string    `json:"warnings,omitempty"`
}

// APIVersion describes the API version that served a call.
type APIVersion struct {
	Version        string `json:"version"`
	IsDeprecated   bool   `json:"is_deprecated,omitempty"`
	IsExperimental bool   `json:"is_experimental,omitempty"`
}

// BilledUnits is what a call was billed. The spec types them as numbers,
// not integers, so they are float64.
type BilledUnits struct {
	InputTokens     float64 `json:"input_tokens,omitempty"`
	OutputTokens    float64 `json:"output_tokens,omitempty"`
	SearchUnits     float64 `json:"search_units,omitempty"`
	Classifications float64 `json:"classifications,omitempty"`
	Images          float64 `json:"images,omitempty"`
	ImageTokens     float64 `json:"image_tokens,omitempty"`
}

// Tokens counts the tokens a call consumed, billed or not.
type Tokens struct {
	InputTokens  float64 `json:"input_tokens,omitempty"`
	OutputTokens float64 `json:"output_tokens,omitempty"`
}

// Int64 decodes an integer sent either as a JSON number or as a string, as
// the batches API sends int64 fields ("input_tokens": "0"). A string that
// is not a number decodes as 0 rather than failing the whole response.
type Int64 int64

// UnmarshalJSON accepts 12, "12", null and non-numeric strings (as 0).
func (n *Int64) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			*n = 0
			return nil
		}
		*n = Int64(v)
		return nil
	}
	var v int64
	if err := json.Unmarshal(b, &v); err != nil {
		// A float such as 1.0 still means an integer count.
		var f float64
		if ferr := json.Unmarshal(b, &f); ferr != nil {
			return err
		}
		v = int64(f)
	}
	*n = Int64(v)
	return nil
}

// Timestamp is a time the API reports. It accepts RFC 3339 with or without
// fractional seconds and the space-separated form some endpoints have used;
// an unrecognised or empty value decodes as the zero time instead of
// failing the whole response.
type Timestamp struct{ time.Time }

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

// UnmarshalJSON parses the layouts listed on [Timestamp].
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil || s == "" {
		t.Time = time.Time{}
		return nil
	}
	for _, layout := range timestampLayouts {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v
			return nil
		}
	}
	t.Time = time.Time{}
	return nil
}

// MarshalJSON writes RFC 3339 with nanoseconds, or null for the zero time.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.Format(time.RFC3339Nano))
}
