package cohere

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// stdEmbedResponse is the baseline: the same response decoded by
// encoding/json's reflection alone.
type stdEmbedResponse struct {
	ID         string   `json:"id"`
	Texts      []string `json:"texts"`
	Embeddings struct {
		Float [][]float32 `json:"float"`
	} `json:"embeddings"`
	Meta Meta `json:"meta"`
}

// embedFixture96x1536 is a /v2/embed response for a full batch of embed-v4
// floats, with values spread like real embeddings.
func embedFixture96x1536(tb testing.TB) (*stdEmbedResponse, []byte) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	r := &stdEmbedResponse{ID: "bench", Meta: Meta{APIVersion: APIVersion{Version: "2"}, BilledUnits: BilledUnits{InputTokens: 9600}}}
	for i := range 96 {
		r.Texts = append(r.Texts, strings.Repeat("word ", 100)+string(rune('a'+i%26)))
		row := make([]float32, 1536)
		for j := range row {
			row[j] = float32(rng.NormFloat64() * 0.03)
		}
		r.Embeddings.Float = append(r.Embeddings.Float, row)
	}
	b, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	return r, b
}

// base64Body is the same response with the floats as the "base64" type.
func base64Body(tb testing.TB, r *stdEmbedResponse) []byte {
	tb.Helper()
	var out struct {
		ID         string   `json:"id"`
		Texts      []string `json:"texts"`
		Embeddings struct {
			Base64 []string `json:"base64"`
		} `json:"embeddings"`
		Meta Meta `json:"meta"`
	}
	out.ID, out.Texts, out.Meta = r.ID, r.Texts, r.Meta
	for _, row := range r.Embeddings.Float {
		raw := make([]byte, 4*len(row))
		for i, x := range row {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
		}
		out.Embeddings.Base64 = append(out.Embeddings.Base64, base64.StdEncoding.EncodeToString(raw))
	}
	b, err := json.Marshal(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkEmbedDecode(b *testing.B) {
	std, body := embedFixture96x1536(b)
	b64 := base64Body(b, std)
	b.Run("client-float-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var r EmbedResponse
			if err := r.decodeJSON(body); err != nil {
				b.Fatal(err)
			}
			if len(r.Embeddings.Float) != 96 || len(r.Embeddings.Float[95]) != 1536 {
				b.Fatal("short decode")
			}
		}
	})
	b.Run("client-base64", func(b *testing.B) {
		b.SetBytes(int64(len(b64)))
		b.ReportAllocs()
		for b.Loop() {
			r := EmbedResponse{Embeddings: Embeddings{base64Floats: true}}
			if err := r.decodeJSON(b64); err != nil {
				b.Fatal(err)
			}
			if len(r.Embeddings.Float) != 96 || len(r.Embeddings.Float[95]) != 1536 ||
				r.Embeddings.Float[95][1535] != std.Embeddings.Float[95][1535] {
				b.Fatal("short decode")
			}
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var r stdEmbedResponse
			if err := json.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("client", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var r EmbedResponse
			if err := json.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
			if len(r.Embeddings.Float) != 96 || len(r.Embeddings.Float[95]) != 1536 {
				b.Fatal("short decode")
			}
		}
	})
}

func BenchmarkEmbedEncode(b *testing.B) {
	std, body := embedFixture96x1536(b)
	ours := &EmbedResponse{ID: std.ID, Texts: std.Texts, Embeddings: Embeddings{Float: std.Embeddings.Float}, Meta: std.Meta}
	b.Run("response/stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(std); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("response/client", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(ours); err != nil {
				b.Fatal(err)
			}
		}
	})
	req := &EmbedRequest{Model: "embed-v4.0", InputType: InputSearchDocument, Texts: std.Texts, EmbeddingTypes: []EmbeddingType{EmbeddingFloat}}
	b.Run("request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
