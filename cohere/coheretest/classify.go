package coheretest

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// MaxClassifyExamples is the most examples one classify call accepts.
const MaxClassifyExamples = 2500

// Classification embeds inputs and examples with this model and input type at
// this dimension, so tests can recompute the fake's decisions with Embedding.
const (
	ClassifyEmbedModel = "embed-english-v3.0"
	ClassifyInputType  = "classification"
	classifyDims       = 1024
	// classifySharpness turns cosine gaps into confident softmax probabilities.
	classifySharpness = 10
)

// defaultClassifier stands in for a fine-tuned model nobody registered: the
// spam / not-spam examples of Cohere's classify reference.
var defaultClassifier = []ClassifyExample{
	{"Dermatologists don't like her!", "Spam"},
	{"'Hello, open to this?'", "Spam"},
	{"I need help please wire me $1000 right now", "Spam"},
	{"Nice to know you ;)", "Spam"},
	{"Please help me?", "Spam"},
	{"Your parcel will be delivered today", "Not spam"},
	{"Review changes to our Terms and Conditions", "Not spam"},
	{"Weekly sync notes", "Not spam"},
	{"'Re: Follow up from today's meeting'", "Not spam"},
	{"Pre-read for tomorrow", "Not spam"},
}

type classifyRequest struct {
	Inputs   []string          `json:"inputs"`
	Examples []ClassifyExample `json:"examples"`
	Model    string            `json:"model"`
	Preset   string            `json:"preset"`
	Truncate string            `json:"truncate"`
}

type labelConfidence struct {
	Confidence float64 `json:"confidence"`
}

type classification struct {
	ClassificationType string                     `json:"classification_type"`
	Confidence         float64                    `json:"confidence"`
	Confidences        []float64                  `json:"confidences"`
	ID                 string                     `json:"id"`
	Input              string                     `json:"input"`
	Labels             map[string]labelConfidence `json:"labels"`
	Prediction         string                     `json:"prediction"`
	Predictions        []string                   `json:"predictions"`
}

type classifyResponse struct {
	ID              string           `json:"id"`
	Classifications []classification `json:"classifications"`
	Meta            meta             `json:"meta"`
}

func (s *Server) handleClassify(w http.ResponseWriter, r *http.Request, body []byte) {
	var req classifyRequest
	if err := decodeBody(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid json syntax: "+err.Error())
		return
	}
	if len(req.Inputs) == 0 {
		writeError(w, http.StatusBadRequest, "invalid request: list of inputs must not be empty")
		return
	}
	if len(req.Inputs) > MaxTexts {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: total number of inputs must be at most %d - received %d", MaxTexts, len(req.Inputs)))
		return
	}
	for i, in := range req.Inputs {
		if in == "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: inputs contains an element that is the empty string at index %d", i))
			return
		}
	}
	if known, _ := modelServes(req.Model, "classify"); known {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: model '%s' is not supported by the classify API, use a fine-tuned classify model", req.Model))
		return
	}
	examples := req.Examples
	if len(examples) == 0 {
		s.mu.Lock()
		reg, ok := s.cfg.classifiers[req.Model]
		s.mu.Unlock()
		switch {
		case ok:
			examples = reg
		case req.Model != "":
			examples = defaultClassifier
		}
	}
	if msg := checkExamples(examples); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	if !s.admit(w, "classify", 1) {
		return
	}
	if i := s.poisoned(req.Inputs); i >= 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: input at index %d could not be classified", i))
		return
	}
	out := make([]classification, len(req.Inputs))
	for i, in := range req.Inputs {
		out[i] = classify(in, examples)
	}
	s.count(func(st *Stats) { st.BilledClassifications += len(req.Inputs) })
	writeJSON(w, http.StatusOK, classifyResponse{
		ID: newUUID(), Classifications: out,
		Meta: v1Meta(&billedUnits{Classifications: len(req.Inputs)}),
	})
}

func checkExamples(ex []ClassifyExample) string {
	if len(ex) > MaxClassifyExamples {
		return fmt.Sprintf("invalid request: max examples for classify request is %d - received %d", MaxClassifyExamples, len(ex))
	}
	per := map[string]int{}
	for i, e := range ex {
		if e.Text == "" {
			return fmt.Sprintf("invalid request: example at index %d has an empty text", i)
		}
		per[e.Label]++
	}
	if len(per) < 2 {
		return fmt.Sprintf("invalid request: min classes for classify request is 2 - received %d", len(per))
	}
	var short []string
	for l, n := range per {
		if n < 2 {
			short = append(short, l)
		}
	}
	if len(short) > 0 {
		sort.Strings(short)
		return "invalid request: each unique label must have at least 2 examples. Not enough examples for: " + strings.Join(short, ", ")
	}
	return ""
}

// classify scores each label by its nearest example's cosine and turns the
// scores into confidences with a softmax.
func classify(input string, examples []ClassifyExample) classification {
	v := Embedding(ClassifyEmbedModel, ClassifyInputType, input, classifyDims)
	best := map[string]float64{}
	for _, e := range examples {
		c := cosine(v, Embedding(ClassifyEmbedModel, ClassifyInputType, e.Text, classifyDims))
		if old, ok := best[e.Label]; !ok || c > old {
			best[e.Label] = c
		}
	}
	labels := make([]string, 0, len(best))
	for l := range best {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	var sum float64
	exp := map[string]float64{}
	for _, l := range labels {
		exp[l] = math.Exp(classifySharpness * best[l])
		sum += exp[l]
	}
	c := classification{ClassificationType: "single-label", ID: newUUID(), Input: input, Labels: map[string]labelConfidence{}}
	for _, l := range labels {
		conf := float64(float32(exp[l] / sum))
		c.Labels[l] = labelConfidence{Confidence: conf}
		if c.Prediction == "" || conf > c.Confidence {
			c.Prediction, c.Confidence = l, conf
		}
	}
	c.Confidences = []float64{c.Confidence}
	c.Predictions = []string{c.Prediction}
	return c
}
