package cohere

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// RerankRequest is the body of /v2/rerank.
type RerankRequest struct {
	Model     string   `json:"model"`
	Query     string   `json:"query"`
	Documents []string `json:"documents"`
	// TopN limits the results; 0 returns them all.
	TopN int `json:"top_n,omitempty"`
	// MaxTokensPerDoc truncates long documents; 0 means the API's 4096.
	MaxTokensPerDoc int `json:"max_tokens_per_doc,omitempty"`
	Priority        int `json:"priority,omitempty"`
}

// RerankV1Request is the body of /v1/rerank, whose documents may be
// strings or objects (map[string]any with a "text" field by default).
type RerankV1Request struct {
	Model           string   `json:"model,omitempty"`
	Query           string   `json:"query"`
	Documents       []any    `json:"documents"`
	TopN            int      `json:"top_n,omitempty"`
	RankFields      []string `json:"rank_fields,omitempty"`
	ReturnDocuments bool     `json:"return_documents,omitempty"`
	MaxChunksPerDoc int      `json:"max_chunks_per_doc,omitempty"`
}

// RerankResponse is the answer of both rerank versions. Results are
// ordered by relevance, most relevant first.
type RerankResponse struct {
	ID      string         `json:"id"`
	Results []RerankResult `json:"results"`
	Meta    Meta           `json:"meta"`
}

// RerankResult scores the document at Index of the request.
type RerankResult struct {
	Index          int     `json:"index"`
	RelevanceScore float64 `json:"relevance_score"`
	// Document is set only when the request asked for documents back (v1).
	Document *RerankDocument `json:"document,omitempty"`
}

// RerankDocument is a document echoed back by the API. Text is its "text"
// field; Fields holds every field, "text" included.
type RerankDocument struct {
	Text   string
	Fields map[string]any
}

// UnmarshalJSON accepts an object or a bare string.
func (d *RerankDocument) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*d = RerankDocument{Text: s, Fields: map[string]any{"text": s}}
		return nil
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("rerank document: %w", err)
	}
	text, _ := fields["text"].(string)
	*d = RerankDocument{Text: text, Fields: fields}
	return nil
}

// MarshalJSON writes the document as an object.
func (d RerankDocument) MarshalJSON() ([]byte, error) {
	if d.Fields != nil {
		return json.Marshal(d.Fields)
	}
	return json.Marshal(map[string]string{"text": d.Text})
}

// Rerank calls /v2/rerank. It is billed in search units, one per query and
// up to 100 documents.
func (c *Client) Rerank(ctx context.Context, req *RerankRequest) (*RerankResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("cohere: rerank: nil request")
	}
	resp := new(RerankResponse)
	if err := c.call(ctx, http.MethodPost, "/v2/rerank", nil, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// RerankV1 calls /v1/rerank.
func (c *Client) RerankV1(ctx context.Context, req *RerankV1Request) (*RerankResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("cohere: rerank v1: nil request")
	}
	resp := new(RerankResponse)
	if err := c.call(ctx, http.MethodPost, "/v1/rerank", nil, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}
