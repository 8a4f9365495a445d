package coheretest

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

const maxTokenizeChars = 65536

func (s *Server) handleTokenize(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Text  string `json:"text"`
		Model string `json:"model"`
	}
	if err := decodeBody(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid json syntax: "+err.Error())
		return
	}
	if !requireModel(w, req.Model) {
		return
	}
	if req.Text == "" {
		writeError(w, http.StatusBadRequest, "invalid request: required 'text' param is missing or empty.")
		return
	}
	if n := utf8.RuneCountInString(req.Text); n > maxTokenizeChars {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: text must be at most %d characters - received %d", maxTokenizeChars, n))
		return
	}
	if !s.admit(w, "tokenize", 1) {
		return
	}
	pieces := tokenPieces(req.Text)
	ids := make([]int64, len(pieces))
	for i, p := range pieces {
		ids[i] = tokenID(p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ids, "token_strings": pieces, "meta": v1Meta(nil)})
}

func (s *Server) handleDetokenize(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Tokens []int64 `json:"tokens"`
		Model  string  `json:"model"`
	}
	if err := decodeBody(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid json syntax: "+err.Error())
		return
	}
	if !requireModel(w, req.Model) {
		return
	}
	var b strings.Builder
	for i, id := range req.Tokens {
		p, ok := pieceFromID(id)
		if !ok {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: token at index %d is not a valid token id", i))
			return
		}
		b.WriteString(p)
	}
	if !s.admit(w, "detokenize", 1) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"text": b.String(), "meta": v1Meta(nil)})
}

// requireModel answers as Cohere does when the tokenizer endpoints get no
// model or an unknown one, and reports whether model may be used.
func requireModel(w http.ResponseWriter, model string) bool {
	if model == "" {
		writeError(w, http.StatusBadRequest, "a model parameter is required for this endpoint.")
		return false
	}
	if _, ok := findModel(model); !ok {
		writeError(w, http.StatusNotFound, modelNotFound(model))
		return false
	}
	return true
}
