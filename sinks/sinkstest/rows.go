package sinkstest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"time"

	"github.com/cobatch/cobatch/sinks"
)

// Kind declares a column of every type.
var Kind = &sinks.RowKind{Name: "score", Columns: []sinks.Column{
	{Name: "label", Type: sinks.TypeText},
	{Name: "tokens", Type: sinks.TypeInt},
	{Name: "score", Type: sinks.TypeFloat},
	{Name: "flagged", Type: sinks.TypeBool},
	{Name: "detail", Type: sinks.TypeJSON},
	{Name: "weights", Type: sinks.TypeVector},
	{Name: "scored_at", Type: sinks.TypeTime},
}}

// awkward are floats a lossy path would change: signed zero, subnormals,
// extremes and infinities.
var awkward = []float32{
	0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
	math.MaxFloat32, -math.MaxFloat32, float32(math.Inf(1)), float32(math.Inf(-1)), 1.0 / 3, -0.1, 123456.789,
}

// Row is a row of Kind for id, its values varied by seed: seed 0 leaves
// every value nil (null) and seed 1 gives an empty vector.
func Row(id string, seed int) sinks.Row {
	r := sinks.Row{ID: id, Fingerprint: "fp-1", ContentSHA256: sha256.Sum256(fmt.Appendf(nil, "%s/%d", id, seed)),
		Values: make([]any, len(Kind.Columns))}
	if seed == 0 {
		return r
	}
	w := make([]float32, seed-1)
	for i := range w {
		w[i] = awkward[(i+seed)%len(awkward)]
	}
	r.Values = []any{fmt.Sprintf("label é %d", seed), int64(seed) << 40, 1.0 / float64(seed), seed%2 == 0,
		json.RawMessage(fmt.Sprintf(`{"seed":%d,"tags":["a","b"]}`, seed)), w,
		time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC).Add(time.Duration(seed) * time.Second)}
	return r
}

// Diff says how a stored row differs from the row of Kind written, ""
// when it does not: JSON compared as values (jsonb rewrites the text),
// floats by their bits, a time to the microsecond a sink keeps and in UTC,
// a vector never nil where an empty one was written.
func Diff(got, want sinks.Row) string {
	if got.ID != want.ID || got.Fingerprint != want.Fingerprint || got.ContentSHA256 != want.ContentSHA256 {
		return fmt.Sprintf("row key %q %q %x, want %q %q %x", got.ID, got.Fingerprint, got.ContentSHA256, want.ID, want.Fingerprint, want.ContentSHA256)
	}
	if len(got.Values) != len(want.Values) {
		return fmt.Sprintf("row %s: %d values, want %d", want.ID, len(got.Values), len(want.Values))
	}
	for i, wv := range want.Values {
		gv := got.Values[i]
		ok := reflect.DeepEqual(gv, wv)
		switch wv := wv.(type) {
		case json.RawMessage:
			var a, b any
			g, isJSON := gv.(json.RawMessage)
			ok = isJSON && json.Unmarshal(g, &a) == nil && json.Unmarshal(wv, &b) == nil && reflect.DeepEqual(a, b)
		case []float32:
			g, isVec := gv.([]float32)
			ok = isVec && g != nil && slices.EqualFunc(g, wv, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) })
		case time.Time:
			g, isTime := gv.(time.Time)
			ok = isTime && g.Equal(wv.Truncate(time.Microsecond)) && g.Location() == time.UTC
		}
		if !ok {
			return fmt.Sprintf("row %s: %s = %#v, want %#v", want.ID, Kind.Columns[i].Name, gv, wv)
		}
	}
	return ""
}
