package parquet

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cobatch/cobatch/sinks"
)

var at = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

// floats that a lossy path would change: signed zero, subnormals, extremes,
// infinities and a NaN with a payload.
var awkward = []float32{
	0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
	math.MaxFloat32, -math.MaxFloat32, float32(math.Inf(1)), float32(math.Inf(-1)),
	math.Float32frombits(0x7fc00001), 1.0 / 3, -0.1, 123456.789,
}

// row builds a deterministic embedding with the vector columns of set.
func row(id string, set vectorSet, dims int, seed int) sinks.Embedding {
	e := sinks.Embedding{
		ID:            id,
		Model:         "embed-v4.0",
		InputType:     "search_document",
		Fingerprint:   "fp-1",
		ContentSHA256: sha256.Sum256([]byte(fmt.Sprintf("text of %s seed %d", id, seed))),
		EmbeddedAt:    at.Add(time.Duration(seed) * time.Second),
	}
	if seed%2 == 0 {
		e.Metadata = json.RawMessage(fmt.Sprintf(`{"id":%q,"seed":%d,"tags":["a","é"]}`, id, seed))
	}
	if set&vecFloat != 0 {
		e.Float = make([]float32, dims)
		for i := range e.Float {
			if i < len(awkward) {
				e.Float[i] = awkward[(i+seed)%len(awkward)]
			} else {
				e.Float[i] = float32(math.Sin(float64(i*7 + seed)))
			}
		}
	}
	if set&vecInt8 != 0 {
		e.Int8 = make([]int8, dims)
		for i := range e.Int8 {
			e.Int8[i] = int8(i*31 + seed - 128)
		}
	}
	if set&vecUint8 != 0 {
		e.Uint8 = make([]uint8, dims)
		for i := range e.Uint8 {
			e.Uint8[i] = uint8(i*17 + seed)
		}
	}
	if set&vecBinary != 0 {
		e.Binary = make([]byte, dims/8)
		for i := range e.Binary {
			e.Binary[i] = byte(i*13 + seed)
		}
	}
	return e
}

func rows(prefix string, n int, set vectorSet, dims int) []sinks.Embedding {
	out := make([]sinks.Embedding, n)
	for i := range out {
		out[i] = row(fmt.Sprintf("%s%d", prefix, i), set, dims, i)
	}
	return out
}

func newTestWriter(t *testing.T, cfg Config) (*Writer, string) {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w, cfg.Dir
}

func readAll(t *testing.T, dir, job string) []sinks.Embedding {
	t.Helper()
	var got []sinks.Embedding
	if err := ReadJob(dir, job, func(e sinks.Embedding) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatalf("ReadJob: %v", err)
	}
	return got
}

// assertSame compares embeddings exactly: floats by their bits, times to the
// microsecond the column stores.
func assertSame(t *testing.T, got, want []sinks.Embedding) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID {
			t.Fatalf("row %d: id %q, want %q", i, g.ID, w.ID)
		}
		if len(g.Float) != len(w.Float) || (g.Float == nil) != (w.Float == nil) {
			t.Fatalf("row %s: %d floats (nil %v), want %d (nil %v)", w.ID, len(g.Float), g.Float == nil, len(w.Float), w.Float == nil)
		}
		for j := range w.Float {
			if math.Float32bits(g.Float[j]) != math.Float32bits(w.Float[j]) {
				t.Fatalf("row %s: float %d = %#x, want %#x", w.ID, j, math.Float32bits(g.Float[j]), math.Float32bits(w.Float[j]))
			}
		}
		if !slices.Equal(g.Int8, w.Int8) || (g.Int8 == nil) != (w.Int8 == nil) {
			t.Fatalf("row %s: int8 %v, want %v", w.ID, g.Int8, w.Int8)
		}
		if !slices.Equal(g.Uint8, w.Uint8) || (g.Uint8 == nil) != (w.Uint8 == nil) {
			t.Fatalf("row %s: uint8 %v, want %v", w.ID, g.Uint8, w.Uint8)
		}
		if !slices.Equal(g.Binary, w.Binary) || (g.Binary == nil) != (w.Binary == nil) {
			t.Fatalf("row %s: binary %x, want %x", w.ID, g.Binary, w.Binary)
		}
		if g.Model != w.Model || g.InputType != w.InputType || g.Fingerprint != w.Fingerprint {
			t.Fatalf("row %s: model/input/fp %q %q %q, want %q %q %q", w.ID, g.Model, g.InputType, g.Fingerprint, w.Model, w.InputType, w.Fingerprint)
		}
		if g.ContentSHA256 != w.ContentSHA256 {
			t.Fatalf("row %s: sha %x, want %x", w.ID, g.ContentSHA256, w.ContentSHA256)
		}
		if string(g.Metadata) != string(w.Metadata) {
			t.Fatalf("row %s: metadata %s, want %s", w.ID, g.Metadata, w.Metadata)
		}
		if !g.EmbeddedAt.Equal(w.EmbeddedAt.Truncate(time.Microsecond)) || g.EmbeddedAt.Location() != time.UTC {
			t.Fatalf("row %s: embedded_at %v, want %v UTC", w.ID, g.EmbeddedAt, w.EmbeddedAt)
		}
	}
}

func ids(es []sinks.Embedding) []string {
	out := make([]string, len(es))
	for i := range es {
		out[i] = es[i].ID
	}
	return out
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read dir: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
