package cohere_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
)

// wire records the embedding_types each request asked for and the bytes of
// each response.
type wire struct {
	mu    sync.Mutex
	types [][]string
	bytes []int
}

func (w *wire) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req struct {
		Types []string `json:"embedding_types"`
	}
	_ = json.Unmarshal(body, &req)
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(out))
	w.mu.Lock()
	w.types = append(w.types, req.Types)
	w.bytes = append(w.bytes, len(out))
	w.mu.Unlock()
	return resp, nil
}

func wireClient(t *testing.T, url string, jsonFloats bool) (*cohere.Client, *wire) {
	t.Helper()
	w := &wire{}
	c, err := cohere.New(cohere.Config{BaseURL: url, APIKey: coheretest.DefaultAPIKey,
		HTTPClient: &http.Client{Transport: w}, JSONFloats: jsonFloats})
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

// TestFloatsOverBase64: asking for floats sends "base64" on the wire and
// decodes the same float32 bits as the JSON numbers path, on the same 96
// texts, in under half the bytes.
func TestFloatsOverBase64(t *testing.T) {
	srv := coheretest.NewServer()
	defer srv.Close()
	texts := make([]string, 96)
	for i := range texts {
		texts[i] = fmt.Sprintf("verse %d: and the evening and the morning were day %d", i, i*7)
	}
	req := &cohere.EmbedRequest{Model: "embed-v4.0", InputType: cohere.InputSearchDocument, Texts: texts,
		EmbeddingTypes: []cohere.EmbeddingType{cohere.EmbeddingFloat}}
	b64c, b64w := wireClient(t, srv.URL, false)
	jsonc, jsonw := wireClient(t, srv.URL, true)
	fromB64, err := b64c.Embed(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := jsonc.Embed(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := b64w.types[0]; !slices.Equal(got, []string{"base64"}) {
		t.Fatalf("default client asked for %q, want [base64]", got)
	}
	if got := jsonw.types[0]; !slices.Equal(got, []string{"float"}) {
		t.Fatalf("JSONFloats client asked for %q, want [float]", got)
	}
	if !slices.Equal(req.EmbeddingTypes, []cohere.EmbeddingType{cohere.EmbeddingFloat}) {
		t.Fatalf("the caller's request was changed: %q", req.EmbeddingTypes)
	}
	if fromB64.Embeddings.Base64 != nil {
		t.Fatal("base64 strings kept besides the floats")
	}
	if len(fromB64.Embeddings.Float) != 96 || len(fromJSON.Embeddings.Float) != 96 {
		t.Fatalf("rows: %d over base64, %d over JSON", len(fromB64.Embeddings.Float), len(fromJSON.Embeddings.Float))
	}
	for i, text := range texts {
		want := coheretest.Embedding("embed-v4.0", "search_document", text, 1536)
		a, b := fromB64.Embeddings.Float[i], fromJSON.Embeddings.Float[i]
		if len(a) != 1536 || len(b) != 1536 || cap(a) != 1536 {
			t.Fatalf("row %d: len %d (cap %d) over base64, %d over JSON", i, len(a), cap(a), len(b))
		}
		for j := range a {
			if math.Float32bits(a[j]) != math.Float32bits(b[j]) || math.Float32bits(a[j]) != math.Float32bits(want[j]) {
				t.Fatalf("row %d [%d]: base64 %v, JSON %v, want %v", i, j, a[j], b[j], want[j])
			}
		}
	}
}

// TestFloatsOverBase64Types: other types ride along; an explicit base64
// request keeps its strings; default types mean floats; v2.0 models (no
// base64) keep JSON floats.
func TestFloatsOverBase64Types(t *testing.T) {
	srv := coheretest.NewServer()
	defer srv.Close()
	c, w := wireClient(t, srv.URL, false)
	texts := []string{"in the beginning", "was the word"}
	cases := []struct {
		model    string
		types    []cohere.EmbeddingType
		wantWire []string
		check    func(e cohere.Embeddings) bool
	}{
		{"embed-v4.0", []cohere.EmbeddingType{"float", "int8"}, []string{"base64", "int8"},
			func(e cohere.Embeddings) bool { return len(e.Float) == 2 && len(e.Int8) == 2 && e.Base64 == nil }},
		{"embed-v4.0", []cohere.EmbeddingType{"base64"}, []string{"base64"},
			func(e cohere.Embeddings) bool { return len(e.Base64) == 2 && e.Float == nil }},
		{"embed-v4.0", []cohere.EmbeddingType{"float", "base64"}, []string{"float", "base64"},
			func(e cohere.Embeddings) bool { return len(e.Base64) == 2 && len(e.Float) == 2 }},
		{"embed-v4.0", nil, []string{"base64"},
			func(e cohere.Embeddings) bool { return len(e.Float) == 2 && e.Base64 == nil }},
	}
	for i, tc := range cases {
		resp, err := c.Embed(t.Context(), &cohere.EmbedRequest{Model: tc.model, InputType: cohere.InputSearchQuery, Texts: texts, EmbeddingTypes: tc.types})
		if err != nil {
			t.Fatalf("%s %q: %v", tc.model, tc.types, err)
		}
		if got := w.types[i]; !slices.Equal(got, tc.wantWire) {
			t.Errorf("%s %q: asked for %q, want %q", tc.model, tc.types, got, tc.wantWire)
		}
		if !tc.check(resp.Embeddings) {
			t.Errorf("%s %q: embeddings %d float, %d int8, %d base64", tc.model, tc.types, len(resp.Embeddings.Float), len(resp.Embeddings.Int8), len(resp.Embeddings.Base64))
		}
	}
}

// TestFloatsOverBase64OldModels: v2.0 models have no base64 type, so their
// floats come as JSON numbers.
func TestFloatsOverBase64OldModels(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"id":"e","texts":["a"],"embeddings":{"float":[[0.5,-0.25]]},"meta":{}}`)
	}))
	defer srv.Close()
	c, w := wireClient(t, srv.URL, false)
	resp, err := c.Embed(t.Context(), &cohere.EmbedRequest{Model: "embed-english-v2.0", InputType: cohere.InputSearchQuery,
		Texts: []string{"a"}, EmbeddingTypes: []cohere.EmbeddingType{"float"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w.types[0], []string{"float"}) || !slices.Equal(resp.Embeddings.Float[0], []float32{0.5, -0.25}) {
		t.Fatalf("asked for %q, got %v", w.types[0], resp.Embeddings.Float)
	}
}

// TestFloatsOverBase64Errors: a base64 embedding that is not base64, or not
// whole float32s, is an error naming the row.
func TestFloatsOverBase64Errors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`["AAAAAA==", "!!!!"]`, "base64 embedding 1"},
		{`["AAAAAAA="]`, "base64 embedding 0: 5 bytes"},
		{`"AAAA"`, "expected an array"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"id":"e","texts":["a","b"],"embeddings":{"base64":`+tc.body+`},"meta":{}}`)
		}))
		c, err := cohere.New(cohere.Config{BaseURL: srv.URL, APIKey: "k", Retry: cohere.RetryPolicy{MaxAttempts: 1}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Embed(t.Context(), &cohere.EmbedRequest{Model: "embed-v4.0", InputType: cohere.InputSearchQuery, Texts: []string{"a", "b"}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("body %s: err = %v, want it to name %q", tc.body, err, tc.want)
		}
		srv.Close()
	}
}
