package coheretest

import (
	"net/http"
	"slices"
	"strconv"
)

// apiVersion, billedUnits and meta follow the fixtures: v1 bodies carry
// {"version":"1"}, v2 bodies {"version":"2","is_experimental":false}.
type apiVersion struct {
	Version        string `json:"version"`
	IsExperimental *bool  `json:"is_experimental,omitempty"`
}

type billedUnits struct {
	Images          int `json:"images,omitempty"`
	InputTokens     int `json:"input_tokens,omitempty"`
	SearchUnits     int `json:"search_units,omitempty"`
	Classifications int `json:"classifications,omitempty"`
}

type meta struct {
	APIVersion  apiVersion   `json:"api_version"`
	BilledUnits *billedUnits `json:"billed_units,omitempty"`
}

func v1Meta(b *billedUnits) meta { return meta{APIVersion: apiVersion{Version: "1"}, BilledUnits: b} }

func v2Meta(b *billedUnits) meta {
	f := false
	return meta{APIVersion: apiVersion{Version: "2", IsExperimental: &f}, BilledUnits: b}
}

type modelInfo struct {
	Name             string   `json:"name"`
	IsDeprecated     bool     `json:"is_deprecated"`
	Endpoints        []string `json:"endpoints"`
	Finetuned        bool     `json:"finetuned"`
	ContextLength    float64  `json:"context_length"`
	TokenizerURL     string   `json:"tokenizer_url,omitempty"`
	DefaultEndpoints []string `json:"default_endpoints"`
	Features         []string `json:"features"`
	SupportsVision   bool     `json:"supports_vision,omitempty"`
}

// catalog is the fixed set of models the fake serves.
var catalog = append([]modelInfo{
	embedModel("embed-v4.0", 128000, true),
	embedModel("embed-english-v3.0", 512, false),
	embedModel("embed-multilingual-v3.0", 512, false),
	embedModel("embed-english-light-v3.0", 512, false),
	embedModel("embed-multilingual-light-v3.0", 512, false),
	otherModel("rerank-v3.5", "rerank", 4096),
	otherModel("rerank-english-v3.0", "rerank", 4096),
	otherModel("rerank-multilingual-v3.0", "rerank", 4096),
	otherModel("rerank-v4.0-pro", "rerank", 32768),
	otherModel("rerank-v4.0-fast", "rerank", 32768),
	otherModel("command", "chat", 4096),
	// The batch twin of embed-v4.0, the model the pipeline's batches name.
	otherModel("batch-embed-v4", "batches", 128000),
}, chatCatalog()...)

// batchTwins maps a batch model to the model that answers its lines.
var batchTwins = map[string]string{"batch-embed-v4": "embed-v4.0"}

func embedModel(name string, ctx float64, isDefault bool) modelInfo {
	m := modelInfo{
		Name: name, Endpoints: []string{"embed", "embed-jobs", "batches"}, ContextLength: ctx,
		TokenizerURL:     "https://storage.googleapis.com/cohere-public/tokenizers/" + name + ".json",
		DefaultEndpoints: []string{}, Features: []string{},
	}
	if isDefault {
		m.DefaultEndpoints = []string{"embed"}
	}
	return m
}

func otherModel(name, endpoint string, ctx float64) modelInfo {
	return modelInfo{
		Name: name, Endpoints: []string{endpoint}, ContextLength: ctx,
		TokenizerURL:     "https://storage.googleapis.com/cohere-public/tokenizers/" + name + ".json",
		DefaultEndpoints: []string{}, Features: []string{},
	}
}

func findModel(name string) (modelInfo, bool) {
	for _, m := range catalog {
		if m.Name == name {
			return m, true
		}
	}
	return modelInfo{}, false
}

func modelServes(name, endpoint string) (known, serves bool) {
	m, ok := findModel(name)
	if !ok {
		return false, false
	}
	return true, slices.Contains(m.Endpoints, endpoint)
}

// checkModel answers as the API does when a request names no model, an
// unknown one, or one that does not serve endpoint.
func checkModel(name, endpoint string) *apiError {
	if name == "" {
		return badRequest("a model parameter is required for this endpoint.")
	}
	known, serves := modelServes(name, endpoint)
	if !known {
		return &apiError{http.StatusNotFound, modelNotFound(name)}
	}
	if !serves {
		return badRequest("invalid request: model '%s' is not supported by the %s API", name, endpoint)
	}
	return nil
}

func modelNotFound(name string) string {
	return "model '" + name + "' not found, make sure the correct model ID was used and that you have access to the model."
}

func (s *Server) handleModelsList(w http.ResponseWriter, r *http.Request, _ []byte) {
	if !s.admit(w, "models", 1) {
		return
	}
	q := r.URL.Query()
	size := 20
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "invalid request: page_size must be between 1 and 1000")
			return
		}
		size = min(n, 1000)
	}
	var ms []modelInfo
	for _, m := range catalog {
		ep := q.Get("endpoint")
		if ep != "" && !slices.Contains(m.Endpoints, ep) {
			continue
		}
		if q.Get("default_only") == "true" && !slices.Contains(m.DefaultEndpoints, ep) {
			continue
		}
		ms = append(ms, m)
	}
	start, next := page(len(ms), size, q.Get("page_token"))
	resp := struct {
		Models        []modelInfo `json:"models"`
		NextPageToken string      `json:"next_page_token,omitempty"`
	}{Models: ms[start:min(len(ms), start+size)], NextPageToken: next}
	if resp.Models == nil {
		resp.Models = []modelInfo{}
	}
	writeJSON(w, http.StatusOK, resp)
}

// page turns an opaque page token (a decimal offset) into a start index and
// the next token, empty on the last page.
func page(total, size int, token string) (start int, next string) {
	if token != "" {
		n, err := strconv.Atoi(token)
		if err == nil && n >= 0 {
			start = min(n, total)
		}
	}
	if start+size < total {
		next = strconv.Itoa(start + size)
	}
	return start, next
}

func (s *Server) handleModelGet(w http.ResponseWriter, r *http.Request, _ []byte) {
	if !s.admit(w, "models", 1) {
		return
	}
	name := r.PathValue("model")
	m, ok := findModel(name)
	if !ok {
		writeError(w, http.StatusNotFound, modelNotFound(name))
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) handleCheckAPIKey(w http.ResponseWriter, r *http.Request, _ []byte) {
	if !s.admit(w, "check-api-key", 1) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"valid":           true,
		"organization_id": orgID,
		"owner_id":        ownerID,
	})
}

const (
	orgID   = "62603116-1750-4c04-b1b6-9d5046764bc4"
	ownerID = "b5e1ffb9-49a1-4653-9927-94083316309d"
)
