package cohere

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
)

// MaxEmbedInputs is the most texts (or inputs) one embed call accepts.
const MaxEmbedInputs = 96

// EmbeddingType names one representation of an embedding. Values the API
// adds later pass through as plain strings.
type EmbeddingType string

// The embedding types the API documents.
const (
	EmbeddingFloat   EmbeddingType = "float"
	EmbeddingInt8    EmbeddingType = "int8"
	EmbeddingUint8   EmbeddingType = "uint8"
	EmbeddingBinary  EmbeddingType = "binary"
	EmbeddingUbinary EmbeddingType = "ubinary"
	// EmbeddingBase64 is accepted by /v2/embed only.
	EmbeddingBase64 EmbeddingType = "base64"
)

// Input types the API documents; required by v3 and newer models.
const (
	InputSearchDocument = "search_document"
	InputSearchQuery    = "search_query"
	InputClassification = "classification"
	InputClustering     = "clustering"
	InputImage          = "image"
)

// Values of EmbedResponse.ResponseType. /v2/embed may omit the field.
const (
	ResponseEmbeddingsFloats = "embeddings_floats"
	ResponseEmbeddingsByType = "embeddings_by_type"
)

// EmbedRequest is the body of /v2/embed and /v1/embed. Zero values are
// omitted from the JSON, so the API applies its own defaults.
type EmbedRequest struct {
	Model     string `json:"model,omitempty"`
	InputType string `json:"input_type,omitempty"`
	// Texts, Images (data URIs) and Inputs (v2 only) are alternatives.
	Texts          []string        `json:"texts,omitempty"`
	Images         []string        `json:"images,omitempty"`
	Inputs         []EmbedInput    `json:"inputs,omitempty"`
	EmbeddingTypes []EmbeddingType `json:"embedding_types,omitempty"`
	// OutputDimension (v2, embed-v4 and newer): 256, 512, 1024 or 1536.
	OutputDimension int `json:"output_dimension,omitempty"`
	// MaxTokens (v2) truncates each input to this many tokens.
	MaxTokens int `json:"max_tokens,omitempty"`
	// Truncate is "NONE", "START" or "END" (the API's default).
	Truncate string `json:"truncate,omitempty"`
	// Priority (v2): lower is served first under load; 0 is the highest.
	Priority int `json:"priority,omitempty"`
}

// EmbedInput is one multimodal input of /v2/embed.
type EmbedInput struct {
	Content []EmbedContent `json:"content"`
}

// EmbedContent is a text or an image part of an [EmbedInput].
type EmbedContent struct {
	// Type is "text" or "image_url".
	Type     string         `json:"type"`
	Text     string         `json:"text,omitempty"`
	ImageURL *EmbedImageURL `json:"image_url,omitempty"`
}

// EmbedImageURL holds an image as a data URI.
type EmbedImageURL struct {
	URL string `json:"url"`
}

// TextInput returns an input made of one text.
func TextInput(text string) EmbedInput {
	return EmbedInput{Content: []EmbedContent{{Type: "text", Text: text}}}
}

// ImageInput returns an input made of one image given as a data URI.
func ImageInput(dataURI string) EmbedInput {
	return EmbedInput{Content: []EmbedContent{{Type: "image_url", ImageURL: &EmbedImageURL{URL: dataURI}}}}
}

// EmbedResponse is the answer of both embed versions.
type EmbedResponse struct {
	ID string `json:"id"`
	// ResponseType is as sent: v1 always sets it, v2 may leave it empty.
	ResponseType string       `json:"response_type,omitempty"`
	Texts        []string     `json:"texts"`
	Images       []EmbedImage `json:"images,omitempty"`
	Embeddings   Embeddings   `json:"embeddings"`
	Meta         Meta         `json:"meta"`

	// expect, set before the call, estimates the body's size (see
	// expectedSize); 0 when unknown.
	expect int
}

// bodySize tells Client.decode how large a buffer to start with.
func (r *EmbedResponse) bodySize() int { return r.expect }

// expectedSize estimates the body of a base64 answer to req: each vector's
// float32s as base64, and the texts echoed. Read into a buffer of this size
// from the start, a body of a megabyte does not leave the buffer's earlier
// sizes, as much again, behind as garbage. 0 when the dimension is the
// model's default, not known here.
func expectedSize(req *EmbedRequest) int {
	if req.OutputDimension <= 0 {
		return 0
	}
	n := 1024
	for _, t := range req.Texts {
		n += base64.StdEncoding.EncodedLen(4*req.OutputDimension) + len(t) + 8
	}
	return n
}

// EmbedImage describes an embedded image.
type EmbedImage struct {
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Format   string `json:"format"`
	BitDepth int    `json:"bit_depth"`
}

// Embeddings holds one slice per requested type, each with one vector per
// input, in input order. Types not requested are nil.
type Embeddings struct {
	Float [][]float32
	Int8  [][]int8
	Uint8 [][]uint8
	// Binary is the API's signed ints (-128..127) as their two's-complement
	// bytes: bit-packed, dims/8 bytes per vector.
	Binary [][]byte
	// Ubinary is the API's 0..255 values as bytes: bit-packed, dims/8 bytes.
	Ubinary [][]byte
	// Base64 is as returned: one string per input.
	Base64 []string

	// base64Floats, set before decoding, reads "base64" into Float (see
	// floatsAsBase64).
	base64Floats bool
}

// Len is the number of inputs the embeddings cover.
func (e *Embeddings) Len() int {
	return max(len(e.Float), len(e.Int8), len(e.Uint8), len(e.Binary), len(e.Ubinary), len(e.Base64))
}

// Embed calls /v2/embed, the pipeline's workhorse.
func (c *Client) Embed(ctx context.Context, req *EmbedRequest) (*EmbedResponse, error) {
	if err := checkEmbed(req); err != nil {
		return nil, fmt.Errorf("cohere: embed: %w", err)
	}
	resp := new(EmbedResponse)
	if !c.cfg.JSONFloats && floatsAsBase64(req) {
		req = withBase64Floats(req)
		resp.Embeddings.base64Floats = true
		resp.expect = expectedSize(req)
	}
	if err := c.call(ctx, http.MethodPost, "/v2/embed", nil, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// EmbedV1 calls /v1/embed. Its two response shapes (embeddings_floats, an
// array, and embeddings_by_type, an object) both land in
// EmbedResponse.Embeddings. Fields that only v2 knows are refused.
func (c *Client) EmbedV1(ctx context.Context, req *EmbedRequest) (*EmbedResponse, error) {
	if err := checkEmbed(req); err != nil {
		return nil, fmt.Errorf("cohere: embed v1: %w", err)
	}
	switch {
	case len(req.Inputs) > 0:
		return nil, fmt.Errorf("cohere: embed v1: Inputs needs /v2/embed")
	case req.OutputDimension != 0, req.MaxTokens != 0, req.Priority != 0:
		return nil, fmt.Errorf("cohere: embed v1: OutputDimension, MaxTokens and Priority need /v2/embed")
	}
	for _, t := range req.EmbeddingTypes {
		if t == EmbeddingBase64 {
			return nil, fmt.Errorf("cohere: embed v1: base64 embeddings need /v2/embed")
		}
	}
	resp := new(EmbedResponse)
	if err := c.call(ctx, http.MethodPost, "/v1/embed", nil, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// checkEmbed refuses locally what the API would refuse after counting a
// call against the rate limit.
func checkEmbed(req *EmbedRequest) error {
	if req == nil {
		return fmt.Errorf("nil request")
	}
	if n := max(len(req.Texts), len(req.Inputs)); n > MaxEmbedInputs {
		return fmt.Errorf("%d inputs, at most %d per call", n, MaxEmbedInputs)
	}
	if len(req.Texts) == 0 && len(req.Images) == 0 && len(req.Inputs) == 0 {
		return fmt.Errorf("no texts, images or inputs")
	}
	return nil
}
