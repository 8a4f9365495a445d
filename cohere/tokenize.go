package cohere

import (
	"context"
	"net/http"
)

// TokenizeRequest is the body of /v1/tokenize.
type TokenizeRequest struct {
	Text  string `json:"text"`
	Model string `json:"model"`
}

// TokenizeResponse lists the tokens of the text.
type TokenizeResponse struct {
	Tokens       []int    `json:"tokens"`
	TokenStrings []string `json:"token_strings"`
	Meta         Meta     `json:"meta"`
}

// DetokenizeRequest is the body of /v1/detokenize.
type DetokenizeRequest struct {
	Tokens []int  `json:"tokens"`
	Model  string `json:"model"`
}

// DetokenizeResponse holds the text the tokens make.
type DetokenizeResponse struct {
	Text string `json:"text"`
	Meta Meta   `json:"meta"`
}

// Tokenize calls /v1/tokenize.
func (c *Client) Tokenize(ctx context.Context, req *TokenizeRequest) (*TokenizeResponse, error) {
	resp := new(TokenizeResponse)
	if err := c.call(ctx, http.MethodPost, "/v1/tokenize", nil, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// Detokenize calls /v1/detokenize.
func (c *Client) Detokenize(ctx context.Context, req *DetokenizeRequest) (*DetokenizeResponse, error) {
	resp := new(DetokenizeResponse)
	if err := c.call(ctx, http.MethodPost, "/v1/detokenize", nil, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}
