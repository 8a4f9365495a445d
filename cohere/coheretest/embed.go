package coheretest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// MaxTexts is the most texts (or inputs) one embed or classify call accepts.
const MaxTexts = 96

type embedRequest struct {
	Texts           []string     `json:"texts"`
	Images          []string     `json:"images"`
	Inputs          []embedInput `json:"inputs"`
	Model           string       `json:"model"`
	InputType       string       `json:"input_type"`
	EmbeddingTypes  []string     `json:"embedding_types"`
	Truncate        string       `json:"truncate"`
	MaxTokens       *int         `json:"max_tokens"`
	OutputDimension *int         `json:"output_dimension"`
	Priority        *int         `json:"priority"`
}

type embedInput struct {
	Content []contentPart `json:"content"`
}

type contentPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	ImageURL json.RawMessage `json:"image_url,omitempty"`
}

// embeddingsByType holds every type the API can return. Integer types are
// []int because encoding/json would write []uint8 as a base64 string.
type embeddingsByType struct {
	Float   floatRows `json:"float,omitempty"`
	Int8    [][]int   `json:"int8,omitempty"`
	Uint8   [][]int   `json:"uint8,omitempty"`
	Binary  [][]int   `json:"binary,omitempty"`
	Ubinary [][]int   `json:"ubinary,omitempty"`
	Base64  []string  `json:"base64,omitempty"`
}

type embedFloatsResponse struct {
	ID           string    `json:"id"`
	Texts        []string  `json:"texts"`
	Embeddings   floatRows `json:"embeddings"`
	Meta         meta      `json:"meta"`
	ResponseType string    `json:"response_type"`
}

// embedByTypeResponse is v1's embeddings_by_type shape and v2's only shape;
// v2 omits response_type, as in the fixtures.
type embedByTypeResponse struct {
	ID           string           `json:"id"`
	Texts        []string         `json:"texts"`
	Embeddings   embeddingsByType `json:"embeddings"`
	Meta         meta             `json:"meta"`
	ResponseType string           `json:"response_type,omitempty"`
}

var inputTypes = []string{"search_document", "search_query", "classification", "clustering", "image"}

// embedPlan is a validated embed request.
type embedPlan struct {
	texts    []string // as sent, echoed in the response
	embedded []string // after truncation, what is embedded and billed
	model    string
	input    string
	types    []string
	dims     int
	tokens   int
}

// apiError is a validation failure to send as {"id","message"}.
type apiError struct {
	status int
	msg    string
}

func badRequest(format string, a ...any) *apiError {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

// planEmbed validates an embed request the way the API does. v2 adds
// `inputs`, the base64 type and defaults embedding_types to float.
func planEmbed(req embedRequest, v2 bool) (*embedPlan, *apiError) {
	if aerr := checkModel(req.Model, "embed"); aerr != nil {
		return nil, aerr
	}
	if !slices.Contains(inputTypes, req.InputType) {
		return nil, badRequest("invalid request: valid input_type must be provided with the provided model")
	}
	if len(req.Images) > 0 || req.InputType == "image" {
		return nil, badRequest("invalid request: image inputs are not supported")
	}
	texts := req.Texts
	if v2 && len(req.Inputs) > 0 {
		if len(req.Texts) > 0 {
			return nil, badRequest("invalid request: only one of texts, images or inputs can be provided")
		}
		texts = make([]string, len(req.Inputs))
		for i, in := range req.Inputs {
			var parts []string
			for _, c := range in.Content {
				if c.Type != "text" {
					return nil, badRequest("invalid request: inputs[%d] has unsupported content type '%s'", i, c.Type)
				}
				parts = append(parts, c.Text)
			}
			texts[i] = strings.Join(parts, "\n")
		}
	}
	if len(texts) == 0 {
		return nil, badRequest("invalid request: one of texts, images or inputs must be provided")
	}
	if len(texts) > MaxTexts {
		return nil, badRequest("invalid request: total number of texts must be at most %d - received %d", MaxTexts, len(texts))
	}
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			return nil, badRequest("invalid request: texts contains an element that is the empty string at index %d", i)
		}
	}
	types := req.EmbeddingTypes
	if v2 && len(types) == 0 {
		types = []string{"float"}
	}
	allowed := []string{"float", "int8", "uint8", "binary", "ubinary"}
	if v2 {
		allowed = append(allowed, "base64")
	}
	for _, t := range types {
		if !slices.Contains(allowed, t) {
			return nil, badRequest("invalid request: embedding_types contains an invalid value '%s'", t)
		}
	}
	od := 0
	if req.OutputDimension != nil {
		if !v2 || !strings.HasPrefix(req.Model, "embed-v4") {
			return nil, badRequest("invalid request: output_dimension is only supported by embed-v4 and newer models")
		}
		od = *req.OutputDimension
		if Dims(req.Model, od) == 0 {
			return nil, badRequest("invalid request: output_dimension must be one of 256, 512, 1024, 1536 - received %d", od)
		}
	}
	m, _ := findModel(req.Model)
	limit := int(m.ContextLength)
	if req.MaxTokens != nil {
		if *req.MaxTokens < 1 {
			return nil, badRequest("invalid request: max_tokens must be at least 1")
		}
		limit = min(limit, *req.MaxTokens)
	}
	switch req.Truncate {
	case "", "END", "START", "NONE":
	default:
		return nil, badRequest("invalid request: truncate must be one of NONE, START or END")
	}
	p := &embedPlan{texts: texts, model: req.Model, input: req.InputType, types: types, dims: Dims(req.Model, od)}
	p.embedded = make([]string, len(texts))
	for i, t := range texts {
		n := Tokens(t)
		if n > limit {
			if req.Truncate == "NONE" {
				return nil, badRequest("too many tokens: text at index %d has %d tokens, more than the limit of %d", i, n, limit)
			}
			t = truncateTokens(t, limit, req.Truncate)
			n = limit
		}
		p.embedded[i] = t
		p.tokens += n
	}
	return p, nil
}

// embeddings computes every requested type for the plan's texts.
func (p *embedPlan) embeddings() embeddingsByType {
	var out embeddingsByType
	for _, t := range p.embedded {
		cv := vectors.get(p.model, p.input, t, p.dims)
		v := cv.v
		for _, typ := range p.types {
			switch typ {
			case "float":
				out.Float = append(out.Float, v)
			case "int8":
				out.Int8 = append(out.Int8, toInts(Int8(v)))
			case "uint8":
				out.Uint8 = append(out.Uint8, toInts(Uint8(v)))
			case "binary":
				out.Binary = append(out.Binary, toInts(Binary(v)))
			case "ubinary":
				out.Ubinary = append(out.Ubinary, toInts(Ubinary(v)))
			case "base64":
				out.Base64 = append(out.Base64, cv.base64())
			}
		}
	}
	return out
}

// floatRows encodes vectors with strconv directly: reflection-based encoding
// of 96×1536 floats dominated the cost of serving an embed call.
type floatRows [][]float32

// MarshalJSON writes each value in its shortest float32 form.
func (f floatRows) MarshalJSON() ([]byte, error) {
	if f == nil {
		return []byte("null"), nil
	}
	n := 2
	for _, row := range f {
		n += 2 + 12*len(row)
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, row := range f {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j, x := range row {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
		}
		b = append(b, ']')
	}
	return append(b, ']'), nil
}

func toInts[T int8 | uint8](v []T) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// serveEmbed runs the shared part of both embed versions: decode, validate,
// rate limit, poison, record. It returns nil when it already answered.
func (s *Server) serveEmbed(w http.ResponseWriter, body []byte, v2 bool) (*embedPlan, bool) {
	var req embedRequest
	if err := decodeBody(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid json syntax: "+err.Error())
		return nil, false
	}
	p, aerr := planEmbed(req, v2)
	if aerr != nil {
		writeError(w, aerr.status, aerr.msg)
		return nil, false
	}
	if !s.admit(w, "embed", len(p.texts)) {
		return nil, false
	}
	if i := s.poisoned(p.texts); i >= 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: text at index %d could not be embedded", i))
		return nil, false
	}
	s.recordEmbeds(p.texts, p.tokens, true)
	return p, true
}

func (s *Server) handleEmbedV1(w http.ResponseWriter, r *http.Request, body []byte) {
	p, ok := s.serveEmbed(w, body, false)
	if !ok {
		return
	}
	bu := &billedUnits{InputTokens: p.tokens}
	if len(p.types) == 0 {
		p.types = []string{"float"}
		writeJSON(w, http.StatusOK, embedFloatsResponse{
			ID: newUUID(), Texts: p.texts, Embeddings: p.embeddings().Float,
			Meta: v1Meta(bu), ResponseType: "embeddings_floats",
		})
		return
	}
	writeJSON(w, http.StatusOK, embedByTypeResponse{
		ID: newUUID(), Texts: p.texts, Embeddings: p.embeddings(),
		Meta: v1Meta(bu), ResponseType: "embeddings_by_type",
	})
}

func (s *Server) handleEmbedV2(w http.ResponseWriter, r *http.Request, body []byte) {
	p, ok := s.serveEmbed(w, body, true)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, embedByTypeResponse{
		ID: newUUID(), Texts: p.texts, Embeddings: p.embeddings(),
		Meta: v2Meta(&billedUnits{InputTokens: p.tokens}),
	})
}
