package coheretest

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"testing"
)

func TestRerankShapes(t *testing.T) {
	t.Parallel()
	s := setup(t)
	tests := []struct {
		name, path, req, resp, version string
	}{
		{"v1", "/v1/rerank", "v1_rerank_request.json", "v1_rerank_response.json", "1"},
		{"v2", "/v2/rerank", "v2_rerank_request.json", "v2_rerank_response.json", "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := call(t, s, http.MethodPost, tt.path, fixture(t, tt.req))
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			want := fixture(t, tt.resp)
			if got, w := keys(r.body), keys(want); !slices.Equal(got, w) {
				t.Fatalf("keys = %v, want %v", got, w)
			}
			res := r.body["results"].([]any)
			if len(res) != 3 {
				t.Fatalf("%d results, want top_n 3", len(res))
			}
			if got, w := keys(res[0].(map[string]any)), []string{"index", "relevance_score"}; !slices.Equal(got, w) {
				t.Fatalf("result keys = %v", got)
			}
			prev := math.Inf(1)
			for _, x := range res {
				sc := x.(map[string]any)["relevance_score"].(float64)
				if sc > prev || sc < 0 || sc > 1 {
					t.Fatalf("scores not sorted in [0,1]: %v", res)
				}
				prev = sc
			}
			// Documents 3 and 4 share the most query words (6 of 7).
			top := []float64{res[0].(map[string]any)["index"].(float64), res[1].(map[string]any)["index"].(float64)}
			slices.Sort(top)
			if !slices.Equal(top, []float64{3, 4}) {
				t.Fatalf("top two = %v, want 3 and 4", top)
			}
			m := r.body["meta"].(map[string]any)
			if m["api_version"].(map[string]any)["version"] != tt.version || m["billed_units"].(map[string]any)["search_units"] != float64(1) {
				t.Fatalf("meta = %v", m)
			}
		})
	}
}

func TestRerankBillingAndDocuments(t *testing.T) {
	t.Parallel()
	s := setup(t)
	docs := make([]string, 250)
	for i := range docs {
		docs[i] = fmt.Sprintf("doc %d", i)
	}
	r := call(t, s, http.MethodPost, "/v2/rerank", map[string]any{"model": "rerank-v3.5", "query": "doc 7", "documents": docs})
	if r.status != 200 || len(r.body["results"].([]any)) != 250 {
		t.Fatalf("status %d, %d results", r.status, len(r.body["results"].([]any)))
	}
	if su := r.body["meta"].(map[string]any)["billed_units"].(map[string]any)["search_units"]; su != float64(3) {
		t.Fatalf("search_units = %v, want ceil(250/100) = 3", su)
	}
	r = call(t, s, http.MethodPost, "/v1/rerank", map[string]any{
		"query": "blue sky", "return_documents": true, "rank_fields": []string{"title"},
		"documents": []any{map[string]any{"title": "red sea", "id": 1}, map[string]any{"title": "blue sky", "id": 2}},
	})
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	top := r.body["results"].([]any)[0].(map[string]any)
	if top["index"] != float64(1) || top["document"].(map[string]any)["id"] != float64(2) {
		t.Fatalf("top = %v", top)
	}
	if s.Stats().BilledSearchUnits != 4 {
		t.Fatalf("BilledSearchUnits = %d, want 4", s.Stats().BilledSearchUnits)
	}
}

func TestRerankValidation(t *testing.T) {
	t.Parallel()
	s := setup(t)
	tests := []struct {
		name   string
		path   string
		body   map[string]any
		status int
		msg    string
	}{
		{"v2 needs model", "/v2/rerank", map[string]any{"query": "q", "documents": []string{"a"}}, 400, "a model parameter is required"},
		{"unknown model", "/v2/rerank", map[string]any{"model": "rr", "query": "q", "documents": []string{"a"}}, 404, "model 'rr' not found"},
		{"empty query", "/v2/rerank", map[string]any{"model": "rerank-v3.5", "query": " ", "documents": []string{"a"}}, 400, "invalid request: query must not be empty"},
		{"no documents", "/v2/rerank", map[string]any{"model": "rerank-v3.5", "query": "q", "documents": []string{}}, 400, "invalid request: list of documents must not be empty"},
		{"empty document", "/v2/rerank", map[string]any{"model": "rerank-v3.5", "query": "q", "documents": []string{"a", ""}}, 400, "invalid request: document at index 1 cannot be empty"},
		{"v1 object without text", "/v1/rerank", map[string]any{"query": "q", "documents": []any{map[string]any{"title": "a"}}}, 400, "document does not have a 'snippet' or a 'text' field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantError(t, call(t, s, http.MethodPost, tt.path, tt.body), tt.status, tt.msg)
		})
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	s := setup(t)
	req := fixture(t, "classify_request.json")
	r := call(t, s, http.MethodPost, "/v1/classify", req)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	want := fixture(t, "classify_response.json")
	if got, w := keys(r.body), keys(want); !slices.Equal(got, w) {
		t.Fatalf("keys = %v, want %v", got, w)
	}
	wantC := want["classifications"].([]any)[0].(map[string]any)
	cs := r.body["classifications"].([]any)
	if len(cs) != 2 {
		t.Fatalf("%d classifications", len(cs))
	}
	var examples []ClassifyExample
	for _, e := range req["examples"].([]any) {
		m := e.(map[string]any)
		examples = append(examples, ClassifyExample{m["text"].(string), m["label"].(string)})
	}
	for i, c := range cs {
		c := c.(map[string]any)
		if got, w := keys(c), keys(wantC); !slices.Equal(got, w) {
			t.Fatalf("classification keys = %v, want %v", got, w)
		}
		in := req["inputs"].([]any)[i].(string)
		if c["input"] != in || c["prediction"] != nearestLabel(in, examples) {
			t.Fatalf("classification %d = %v, nearest label %q", i, c, nearestLabel(in, examples))
		}
		var sum float64
		for _, l := range c["labels"].(map[string]any) {
			sum += l.(map[string]any)["confidence"].(float64)
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Fatalf("label confidences sum to %v", sum)
		}
	}
	if bu := r.body["meta"].(map[string]any)["billed_units"].(map[string]any)["classifications"]; bu != float64(2) {
		t.Fatalf("billed classifications = %v", bu)
	}
}

// nearestLabel recomputes the fake's decision from Embedding.
func nearestLabel(in string, ex []ClassifyExample) string {
	v := Embedding(ClassifyEmbedModel, ClassifyInputType, in, 1024)
	best, label := -2.0, ""
	for _, e := range ex {
		if c := cosine(v, Embedding(ClassifyEmbedModel, ClassifyInputType, e.Text, 1024)); c > best {
			best, label = c, e.Label
		}
	}
	return label
}

func TestClassifyValidationAndRegisteredModel(t *testing.T) {
	t.Parallel()
	s := setup(t, WithClassifier("ft-topics", []ClassifyExample{
		{"football match score", "sport"}, {"tennis final set", "sport"},
		{"stock market shares", "finance"}, {"bank interest rates", "finance"},
	}))
	r := call(t, s, http.MethodPost, "/v1/classify", map[string]any{"model": "ft-topics", "inputs": []string{"interest rates rise at the bank"}})
	if r.status != 200 || r.body["classifications"].([]any)[0].(map[string]any)["prediction"] != "finance" {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	tests := []struct {
		name string
		body map[string]any
		msg  string
	}{
		{"no inputs", map[string]any{"model": "ft"}, "invalid request: list of inputs must not be empty"},
		{"empty input", map[string]any{"model": "ft", "inputs": []string{""}}, "invalid request: inputs contains an element that is the empty string at index 0"},
		{"one example per label", map[string]any{"inputs": []string{"x"}, "examples": []any{
			map[string]string{"text": "a", "label": "A"}, map[string]string{"text": "b", "label": "A"},
			map[string]string{"text": "c", "label": "B"}}}, "invalid request: each unique label must have at least 2 examples. Not enough examples for: B"},
		{"one class", map[string]any{"inputs": []string{"x"}, "examples": []any{
			map[string]string{"text": "a", "label": "A"}, map[string]string{"text": "b", "label": "A"}}}, "invalid request: min classes for classify request is 2 - received 1"},
		{"no model nor examples", map[string]any{"inputs": []string{"x"}}, "invalid request: min classes for classify request is 2 - received 0"},
		{"base model", map[string]any{"model": "embed-english-v3.0", "inputs": []string{"x"}}, "invalid request: model 'embed-english-v3.0' is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantError(t, call(t, s, http.MethodPost, "/v1/classify", tt.body), 400, tt.msg)
		})
	}
}

func TestTokenizeDetokenize(t *testing.T) {
	t.Parallel()
	s := setup(t)
	r := call(t, s, http.MethodPost, "/v1/tokenize", fixture(t, "tokenize_request.json"))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if got, w := keys(r.body), keys(fixture(t, "tokenize_response.json")); !slices.Equal(got, w) {
		t.Fatalf("keys = %v, want %v", got, w)
	}
	toks := r.body["tokens"].([]any)
	if len(toks) != Tokens("tokenize me! :D") || len(r.body["token_strings"].([]any)) != len(toks) {
		t.Fatalf("tokens = %v", toks)
	}
	d := call(t, s, http.MethodPost, "/v1/detokenize", map[string]any{"tokens": toks, "model": "command"})
	if d.status != 200 || d.body["text"] != "tokenize me! :D" {
		t.Fatalf("detokenize: %d %s", d.status, d.raw)
	}
	if got, w := keys(d.body), keys(fixture(t, "detokenize_response.json")); !slices.Equal(got, w) {
		t.Fatalf("keys = %v, want %v", got, w)
	}
	wantError(t, call(t, s, http.MethodPost, "/v1/tokenize", map[string]any{"text": "x", "model": "nope"}), 404, "model 'nope' not found")
	wantError(t, call(t, s, http.MethodPost, "/v1/detokenize", map[string]any{"tokens": []int{-1}, "model": "command"}), 400, "invalid request:")
}

func TestModelsAndCheckAPIKey(t *testing.T) {
	t.Parallel()
	s := setup(t)
	r := call(t, s, http.MethodGet, "/v1/models?endpoint=embed&page_size=2", nil)
	if r.status != 200 || len(r.body["models"].([]any)) != 2 || r.body["next_page_token"] != "2" {
		t.Fatalf("models page 1: %d %s", r.status, r.raw)
	}
	wantModel := fixture(t, "synthetic_fern_wiremock/models_get_response.json")
	if got, w := keys(r.body["models"].([]any)[0].(map[string]any)), keys(wantModel); !slices.Equal(got, w) {
		t.Fatalf("model keys = %v, want %v", got, w)
	}
	r = call(t, s, http.MethodGet, "/v1/models?endpoint=embed&page_size=2&page_token=4", nil)
	if len(r.body["models"].([]any)) != 1 || r.body["next_page_token"] != nil {
		t.Fatalf("last page: %s", r.raw)
	}
	r = call(t, s, http.MethodGet, "/v1/models/embed-v4.0", nil)
	if r.status != 200 || r.body["name"] != "embed-v4.0" {
		t.Fatalf("get: %d %s", r.status, r.raw)
	}
	wantError(t, call(t, s, http.MethodGet, "/v1/models/nope", nil), 404, "model 'nope' not found")
	r = call(t, s, http.MethodPost, "/v1/check-api-key", nil)
	if got, w := keys(r.body), keys(fixture(t, "synthetic_fern_wiremock/check_api_key_response.json")); !slices.Equal(got, w) || r.body["valid"] != true {
		t.Fatalf("check-api-key: %s", r.raw)
	}
	wantError(t, call(t, s, http.MethodGet, "/v1/nothing", nil), 404, "404 page not found")
}
