package cohere

import (
	"context"
	"fmt"
	"net/http"
)

// ClassifyRequest is the body of /v1/classify.
type ClassifyRequest struct {
	// Inputs: at most 96 non-empty texts.
	Inputs []string `json:"inputs"`
	// Examples: at least 2 per label, at most 2,500; fine-tuned models need
	// none.
	Examples []ClassifyExample `json:"examples,omitempty"`
	Model    string            `json:"model,omitempty"`
	Preset   string            `json:"preset,omitempty"`
	Truncate string            `json:"truncate,omitempty"`
}

// ClassifyExample is one labelled text.
type ClassifyExample struct {
	Text  string `json:"text"`
	Label string `json:"label"`
}

// ClassifyResponse holds one classification per input, in input order.
type ClassifyResponse struct {
	ID              string           `json:"id"`
	Classifications []Classification `json:"classifications"`
	Meta            Meta             `json:"meta"`
}

// Classification is the verdict on one input.
type Classification struct {
	ID          string    `json:"id"`
	Input       string    `json:"input"`
	Prediction  string    `json:"prediction"`
	Predictions []string  `json:"predictions"`
	Confidence  float64   `json:"confidence"`
	Confidences []float64 `json:"confidences"`
	// Labels maps every label to its confidence.
	Labels map[string]LabelConfidence `json:"labels"`
	// ClassificationType is "single-label" or "multi-label".
	ClassificationType string `json:"classification_type"`
}

// LabelConfidence is one label's score.
type LabelConfidence struct {
	Confidence float64 `json:"confidence"`
}

// Classify calls /v1/classify.
func (c *Client) Classify(ctx context.Context, req *ClassifyRequest) (*ClassifyResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("cohere: classify: nil request")
	}
	if len(req.Inputs) > MaxEmbedInputs {
		return nil, fmt.Errorf("cohere: classify: %d inputs, at most %d per call", len(req.Inputs), MaxEmbedInputs)
	}
	resp := new(ClassifyResponse)
	if err := c.call(ctx, http.MethodPost, "/v1/classify", nil, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}
