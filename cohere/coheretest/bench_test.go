package coheretest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkEmbedV2Full96x1536 measures serving one full embed call (96 texts,
// 1536 dims, float) in-process, without the network.
func BenchmarkEmbedV2Full96x1536(b *testing.B) {
	s := New()
	defer s.Close()
	texts := make([]string, MaxTexts)
	for i := range texts {
		texts[i] = fmt.Sprintf("document number %d about topic %d", i, i%7)
	}
	body, _ := json.Marshal(map[string]any{"model": "embed-v4.0", "input_type": "search_document", "texts": texts})
	h := s.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v2/embed", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+DefaultAPIKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

func BenchmarkEmbedding1536(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Embedding("embed-v4.0", "search_document", "a typical sentence of about ten words to embed here", 1536)
	}
}
