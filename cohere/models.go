package cohere

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// Model describes one model the key can use.
type Model struct {
	Name             string   `json:"name"`
	IsDeprecated     bool     `json:"is_deprecated"`
	Endpoints        []string `json:"endpoints"`
	Finetuned        bool     `json:"finetuned"`
	ContextLength    float64  `json:"context_length"`
	TokenizerURL     string   `json:"tokenizer_url"`
	DefaultEndpoints []string `json:"default_endpoints"`
	Features         []string `json:"features"`
	SupportsVision   bool     `json:"supports_vision"`
}

// ListModelsParams filters and pages GET /v1/models. Zero values are not
// sent.
type ListModelsParams struct {
	PageSize  int
	PageToken string
	// Endpoint keeps models compatible with that endpoint, e.g. "embed".
	Endpoint string
	// DefaultOnly keeps the endpoint's default model; needs Endpoint.
	DefaultOnly bool
}

// ListModelsResponse is one page of models.
type ListModelsResponse struct {
	Models        []Model `json:"models"`
	NextPageToken string  `json:"next_page_token"`
}

// CheckAPIKeyResponse says whether the key is valid and whose it is.
type CheckAPIKeyResponse struct {
	Valid          bool   `json:"valid"`
	OrganizationID string `json:"organization_id"`
	OwnerID        string `json:"owner_id"`
}

// ListModels calls GET /v1/models.
func (c *Client) ListModels(ctx context.Context, p ListModelsParams) (*ListModelsResponse, error) {
	q := url.Values{}
	if p.PageSize > 0 {
		q.Set("page_size", strconv.Itoa(p.PageSize))
	}
	if p.PageToken != "" {
		q.Set("page_token", p.PageToken)
	}
	if p.Endpoint != "" {
		q.Set("endpoint", p.Endpoint)
	}
	if p.DefaultOnly {
		q.Set("default_only", "true")
	}
	resp := new(ListModelsResponse)
	if err := c.call(ctx, http.MethodGet, "/v1/models", q, nil, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// GetModel calls GET /v1/models/{model}.
func (c *Client) GetModel(ctx context.Context, name string) (*Model, error) {
	resp := new(Model)
	if err := c.call(ctx, http.MethodGet, "/v1/models/"+pathEscape(name), nil, nil, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// CheckAPIKey calls POST /v1/check-api-key. An invalid key usually comes
// back as a 401 error rather than Valid=false.
func (c *Client) CheckAPIKey(ctx context.Context) (*CheckAPIKeyResponse, error) {
	resp := new(CheckAPIKeyResponse)
	if err := c.call(ctx, http.MethodPost, "/v1/check-api-key", nil, nil, resp); err != nil {
		return nil, err
	}
	return resp, nil
}
