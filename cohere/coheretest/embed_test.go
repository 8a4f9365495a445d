package coheretest

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestEmbedV1FloatsShape(t *testing.T) {
	t.Parallel()
	s := setup(t)
	r := call(t, s, http.MethodPost, "/v1/embed", fixture(t, "v1_embed_request.json"))
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	want := fixture(t, "v1_embed_response.json")
	if got, w := keys(r.body), keys(want); !slices.Equal(got, w) {
		t.Fatalf("keys = %v, want %v", got, w)
	}
	if r.body["response_type"] != "embeddings_floats" {
		t.Fatalf("response_type = %v", r.body["response_type"])
	}
	m := r.body["meta"].(map[string]any)
	if got, w := keys(m), keys(want["meta"].(map[string]any)); !slices.Equal(got, w) {
		t.Fatalf("meta keys = %v, want %v", got, w)
	}
	if m["api_version"].(map[string]any)["version"] != "1" {
		t.Fatalf("api_version = %v", m["api_version"])
	}
	if got := m["billed_units"].(map[string]any)["input_tokens"]; got != float64(Tokens("hello")+Tokens("goodbye")) {
		t.Fatalf("input_tokens = %v", got)
	}
	embs := r.body["embeddings"].([]any)
	for i, text := range []string{"hello", "goodbye"} {
		if got, w := floats(t, embs[i]), Embedding("embed-v4.0", "classification", text, 1536); !slices.Equal(got, w) {
			t.Fatalf("embedding %d differs from Embedding()", i)
		}
	}
	if st := s.Stats(); st.EmbeddedTexts != 2 || st.UniqueTexts != 2 || s.EmbedCount("hello") != 1 || !slices.Equal(st.BatchSizes, []int{2}) {
		t.Fatalf("stats = %+v, EmbedCount(hello) = %d", st, s.EmbedCount("hello"))
	}
}

func TestEmbedV1ByTypeShape(t *testing.T) {
	t.Parallel()
	s := setup(t)
	r := call(t, s, http.MethodPost, "/v1/embed", map[string]any{
		"texts": []string{"hello world"}, "model": "embed-english-v3.0", "input_type": "search_document",
		"embedding_types": []string{"float", "ubinary"},
	})
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	want := fixture(t, "embed_by_type_response_schema_example.json")
	if got, w := keys(r.body["embeddings"].(map[string]any)), keys(want["embeddings"].(map[string]any)); !slices.Equal(got, w) {
		t.Fatalf("embeddings keys = %v, want %v", got, w)
	}
	if r.body["response_type"] != "embeddings_by_type" {
		t.Fatalf("response_type = %v", r.body["response_type"])
	}
	ub := ints(t, r.body["embeddings"].(map[string]any)["ubinary"].([]any)[0])
	if len(ub) != 128 {
		t.Fatalf("ubinary length %d, want 128 (as in the fixture)", len(ub))
	}
}

func TestEmbedV2AllTypes(t *testing.T) {
	t.Parallel()
	s := setup(t)
	r := call(t, s, http.MethodPost, "/v2/embed", map[string]any{
		"inputs": []any{map[string]any{"content": []any{map[string]any{"type": "text", "text": "alpha beta"}}}},
		"model":  "embed-v4.0", "input_type": "search_query", "output_dimension": 512,
		"embedding_types": []string{"float", "int8", "uint8", "binary", "ubinary", "base64"},
	})
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if got, w := keys(r.body), []string{"embeddings", "id", "meta", "texts"}; !slices.Equal(got, w) {
		t.Fatalf("keys = %v, want %v (v2 has no response_type, as in the fixture)", got, w)
	}
	if v := r.body["meta"].(map[string]any)["api_version"].(map[string]any)["version"]; v != "2" {
		t.Fatalf("version = %v", v)
	}
	vec := Embedding("embed-v4.0", "search_query", "alpha beta", 512)
	e := r.body["embeddings"].(map[string]any)
	if got := floats(t, e["float"].([]any)[0]); !slices.Equal(got, vec) {
		t.Fatal("float differs")
	}
	checks := []struct {
		name string
		want []int
	}{
		{"int8", toInts(Int8(vec))},
		{"uint8", toInts(Uint8(vec))},
		{"binary", toInts(Binary(vec))},
		{"ubinary", toInts(Ubinary(vec))},
	}
	for _, c := range checks {
		if got := ints(t, e[c.name].([]any)[0]); !slices.Equal(got, c.want) {
			t.Fatalf("%s differs", c.name)
		}
	}
	if n := len(ints(t, e["binary"].([]any)[0])); n != 64 {
		t.Fatalf("binary length %d, want 64", n)
	}
	raw, _ := base64.StdEncoding.DecodeString(e["base64"].([]any)[0].(string))
	if len(raw) != 4*512 || math.Float32frombits(binary.LittleEndian.Uint32(raw)) != vec[0] {
		t.Fatalf("base64 decodes to %d bytes", len(raw))
	}
}

func TestEmbedTruncation(t *testing.T) {
	t.Parallel()
	s := setup(t)
	long := strings.Repeat("word ", 1000) // 5000 bytes, 1250 tokens
	r := call(t, s, http.MethodPost, "/v2/embed", map[string]any{
		"texts": []string{long}, "model": "embed-english-v3.0", "input_type": "search_document", "truncate": "END",
	})
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if got := r.body["meta"].(map[string]any)["billed_units"].(map[string]any)["input_tokens"]; got != float64(512) {
		t.Fatalf("billed %v tokens, want 512 (v3 context)", got)
	}
	want := Embedding("embed-english-v3.0", "search_document", long[:2048], 1024)
	if got := floats(t, r.body["embeddings"].(map[string]any)["float"].([]any)[0]); !slices.Equal(got, want) {
		t.Fatal("truncated text was not what got embedded")
	}
}

func TestEmbedValidation(t *testing.T) {
	t.Parallel()
	s := setup(t)
	texts97 := make([]string, 97)
	for i := range texts97 {
		texts97[i] = "t"
	}
	tests := []struct {
		name   string
		path   string
		body   any
		status int
		msg    string
	}{
		{"invalid json", "/v2/embed", []byte(`{"texts":`), 400, "invalid json syntax"},
		{"missing model", "/v1/embed", map[string]any{"texts": []string{"a"}, "input_type": "search_query"}, 400, "a model parameter is required"},
		{"unknown model", "/v2/embed", map[string]any{"texts": []string{"a"}, "model": "embed-nope", "input_type": "search_query"}, 404, "model 'embed-nope' not found"},
		{"rerank model", "/v2/embed", map[string]any{"texts": []string{"a"}, "model": "rerank-v3.5", "input_type": "search_query"}, 400, "invalid request: model 'rerank-v3.5' is not supported"},
		{"missing input_type v2", "/v2/embed", map[string]any{"texts": []string{"a"}, "model": "embed-v4.0"}, 400, "invalid request: valid input_type must be provided"},
		{"missing input_type v1", "/v1/embed", map[string]any{"texts": []string{"a"}, "model": "embed-english-v3.0"}, 400, "invalid request: valid input_type must be provided"},
		{"97 texts", "/v2/embed", map[string]any{"texts": texts97, "model": "embed-v4.0", "input_type": "search_query"}, 400, "invalid request: total number of texts must be at most 96 - received 97"},
		{"no texts", "/v2/embed", map[string]any{"model": "embed-v4.0", "input_type": "search_query"}, 400, "invalid request: one of texts"},
		{"empty text", "/v2/embed", map[string]any{"texts": []string{"a", ""}, "model": "embed-v4.0", "input_type": "search_query"}, 400, "invalid request: texts contains an element that is the empty string at index 1"},
		{"bad type", "/v2/embed", map[string]any{"texts": []string{"a"}, "model": "embed-v4.0", "input_type": "search_query", "embedding_types": []string{"int4"}}, 400, "invalid request: embedding_types"},
		{"base64 on v1", "/v1/embed", map[string]any{"texts": []string{"a"}, "model": "embed-v4.0", "input_type": "search_query", "embedding_types": []string{"base64"}}, 400, "invalid request: embedding_types"},
		{"bad output_dimension", "/v2/embed", map[string]any{"texts": []string{"a"}, "model": "embed-v4.0", "input_type": "search_query", "output_dimension": 300}, 400, "invalid request: output_dimension must be one of"},
		{"output_dimension on v3", "/v2/embed", map[string]any{"texts": []string{"a"}, "model": "embed-english-v3.0", "input_type": "search_query", "output_dimension": 256}, 400, "invalid request: output_dimension is only supported"},
		{"too long with NONE", "/v2/embed", map[string]any{"texts": []string{strings.Repeat("x", 4000)}, "model": "embed-english-v3.0", "input_type": "search_query", "truncate": "NONE"}, 400, "too many tokens"},
		{"texts and inputs", "/v2/embed", map[string]any{"texts": []string{"a"}, "inputs": []any{map[string]any{"content": []any{map[string]any{"type": "text", "text": "b"}}}}, "model": "embed-v4.0", "input_type": "search_query"}, 400, "invalid request: only one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantError(t, call(t, s, http.MethodPost, tt.path, tt.body), tt.status, tt.msg)
		})
	}
	t.Cleanup(func() {
		if st := s.Stats(); st.EmbeddedTexts != 0 {
			t.Errorf("rejected requests embedded %d texts", st.EmbeddedTexts)
		}
	})
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := setup(t, WithAPIKey("sekret"))
	body := map[string]any{"texts": []string{"a"}, "model": "embed-v4.0", "input_type": "search_query"}
	tests := []struct {
		name   string
		key    string
		status int
		msg    string
	}{
		{"no key", "", 401, "no api key supplied"},
		{"wrong key", DefaultAPIKey, 401, "invalid api token"},
		{"right key", "sekret", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := callKey(t, s, tt.key, http.MethodPost, "/v2/embed", body)
			if tt.status == 200 {
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				return
			}
			wantError(t, r, tt.status, tt.msg)
			if strings.Contains(string(r.raw), "sekret") {
				t.Fatal("error body leaks the key")
			}
		})
	}
}
