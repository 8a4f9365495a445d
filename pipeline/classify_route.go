package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/cobatch/cobatch/cohere"
)

// The routes of a classify job (-via). /v1/classify serves only fine-tuned
// models, so a job with labelled examples or only label names runs through
// embed or chat instead.
const (
	// ViaClassify sends records to /v1/classify: a fine-tuned model, or the
	// job's examples where the API still takes them.
	ViaClassify = "classify"
	// ViaEmbed embeds the examples once per job and each record, and takes
	// the label of the nearest centroid (classify_embed.go).
	ViaEmbed = "embed"
	// ViaChat asks a chat model for the label, its reply held to a JSON
	// schema whose enum is the labels (classify_chat.go).
	ViaChat = "chat"
	// ViaAuto chooses by what the job has (ChooseRoute).
	ViaAuto = "auto"
)

// Default models of the embed and chat routes.
const (
	DefaultClassifyEmbedModel = "embed-v4.0"
	DefaultClassifyChatModel  = "command-a-03-2025"
)

// ClassifyOptions choose a classify job's route and its labels.
type ClassifyOptions struct {
	// Via is the route: classify, embed or chat (auto is resolved by
	// WithDefaults); empty is the classify route.
	Via string `json:"via,omitempty"`
	// ViaReason says why auto chose the route, for enqueue to print.
	ViaReason string `json:"-"`
	// Labels are the labels a record may get; by default those of the
	// examples, in their order of appearance.
	Labels []string `json:"labels,omitempty"`
	// MultiLabel lets a record take several labels (labels_predicted).
	MultiLabel bool `json:"multi_label,omitempty"`
}

// ChooseRoute resolves -via auto: a fine-tuned model id goes to
// /v1/classify, labelled examples to the embed route, labels alone to chat.
func ChooseRoute(s Spec) (via, reason string) {
	switch {
	case s.Model != "" && !baseModel(s.Model):
		return ViaClassify, fmt.Sprintf("-model %s is not a base embed or chat model: a fine-tuned classify model", s.Model)
	case len(s.Examples) > 0 && !strings.HasPrefix(s.Model, "command"):
		return ViaEmbed, "-examples given without a fine-tuned model: examples and records are embedded, each record takes the nearest label centroid"
	case len(s.Labels) > 0:
		return ViaChat, "-labels given without -examples: a chat model picks one of the labels"
	case len(s.Examples) > 0:
		return ViaChat, fmt.Sprintf("-model %s is a chat model: the examples are its few-shot turns", s.Model)
	}
	return ViaClassify, "no -examples or -labels: a fine-tuned classify model"
}

// baseModel tells Cohere's own embed, chat and rerank models from a
// fine-tuned model id.
func baseModel(m string) bool {
	for _, p := range []string{"embed-", "command", "rerank-", "c4ai-", "batch-"} {
		if strings.HasPrefix(m, p) {
			return true
		}
	}
	return false
}

// classifyRouteDefaults resolves the route and fills its model and labels.
func classifyRouteDefaults(s Spec) Spec {
	if s.Via == ViaAuto {
		s.Via, s.ViaReason = ChooseRoute(s)
	}
	if len(s.Labels) == 0 && len(s.Examples) > 0 && (s.Via == ViaEmbed || s.Via == ViaChat) {
		for _, e := range s.Examples {
			if !slices.Contains(s.Labels, e.Label) {
				s.Labels = append(s.Labels, e.Label)
			}
		}
	}
	switch {
	case s.Via == ViaEmbed && s.Model == "":
		s.Model = DefaultClassifyEmbedModel
	case s.Via == ViaChat && s.Model == "":
		s.Model = DefaultClassifyChatModel
	}
	return s
}

// classifyRouteValidate checks the embed and chat routes before any call:
// at least two labels, two examples of each for embed, no example outside
// the labels.
func classifyRouteValidate(s Spec) []error {
	switch s.Via {
	case "", ViaClassify:
		if len(s.Labels) > 0 || s.MultiLabel {
			return []error{errors.New("-labels and -multi-label: the classify route takes its labels from the model or -examples; use -via embed or chat")}
		}
		return nil
	case ViaEmbed, ViaChat:
	default:
		return []error{fmt.Errorf("-via %q: want classify, embed, chat or auto", s.Via)}
	}
	var errs []error
	if len(s.Labels) < 2 {
		errs = append(errs, fmt.Errorf("-labels: %d label(s), at least 2 needed", len(s.Labels)))
	}
	if s.Via == ViaEmbed && len(s.Examples) == 0 && s.ExamplesSHA256 == "" {
		errs = append(errs, errors.New("-via embed: give -examples FILE (at least 2 per label)"))
	}
	per := map[string]int{}
	for i, e := range s.Examples {
		if !slices.Contains(s.Labels, e.Label) {
			errs = append(errs, fmt.Errorf("-examples: example %d has label %q, not one of -labels %s", i+1, e.Label, strings.Join(s.Labels, ",")))
		}
		per[e.Label]++
	}
	if s.Via == ViaEmbed && len(s.Examples) > 0 {
		for _, l := range s.Labels {
			if per[l] < 2 {
				errs = append(errs, fmt.Errorf("-examples: label %q has %d example(s); the embed route needs at least 2 per label", l, per[l]))
			}
		}
	}
	if s.Truncate == "START" && s.Via == ViaChat {
		errs = append(errs, errors.New("-truncate: the chat route does not truncate"))
	}
	return errs
}

// classifyRouteFingerprint: the route, the model, the labels and the
// examples decide a record's label on the embed and chat routes.
func classifyRouteFingerprint(s Spec) string {
	multi := ""
	if s.MultiLabel {
		multi = "|multi"
	}
	return fmt.Sprintf("classify|%s|%s|%s|%s|%s%s", s.Via, s.Model, strings.Join(s.Labels, "\x1f"), s.ExamplesSHA256, s.Truncate, multi)
}

// classifyRoutePrice is the list price per million input tokens of the
// route's model: embed models as embed, chat models as chat (ChatPrices;
// their output tokens are priced by Spec.PriceOut); zero for a fine-tuned
// model (give -price-per-mtok).
func classifyRoutePrice(model string) float64 {
	if strings.HasPrefix(model, "embed-") {
		return embedPrice(model)
	}
	return ChatPrices[model][0]
}

// classifyEstimate reckons a classify job's cost by route. The classify
// route counts the records' tokens in calls of up to MaxBatch. The embed
// route adds its examples, embedded once. The chat route makes one call per
// record, each sending the system prompt, the few-shot turns and the
// lead-in besides the record's text, and is billed its reply, a JSON
// object naming the label (every label with -multi-label), at the output
// price.
func classifyEstimate(ctx context.Context, s Spec) (Estimate, error) {
	per := int64(MaxBatch)
	if s.Via == ViaChat {
		per = 1
	}
	e, err := sampleInputs(ctx, s, per)
	if err != nil {
		return e, err
	}
	switch s.Via {
	case ViaEmbed:
		var bytes int64
		for _, ex := range s.Examples {
			bytes += int64(len(ex.Text))
		}
		e.Tokens += (bytes + 3) / 4
		e.Calls += int64((len(s.Examples) + MaxBatch - 1) / MaxBatch)
	case ViaChat:
		prompt := int64(len(chatLeadIn))
		for _, m := range chatPrompt(s, s.Examples) {
			prompt += int64(len(m.Content.String()))
		}
		e.Tokens += e.Records * ((prompt + 3) / 4)
		e.PriceOut = s.PriceOut()
		e.OutputTokens = e.Records * int64((len(longestReply(s))+3)/4)
	}
	e.Cost = Cost(e.Price, e.Tokens, 0) + Cost(e.PriceOut, e.OutputTokens, 0)
	return e, nil
}

// longestReply is the longest reply the chat route's schema allows: the
// longest label, or every label with -multi-label.
func longestReply(s Spec) string {
	if s.MultiLabel {
		b, _ := json.Marshal(map[string][]string{"labels": s.Labels}) // strings always encode
		return string(b)
	}
	longest := ""
	for _, l := range s.Labels {
		if len(l) > len(longest) {
			longest = l
		}
	}
	b, _ := json.Marshal(map[string]string{"label": longest})
	return string(b)
}

// CheckExampleLabels names the file and line of the first example whose
// label is not one of labels.
func CheckExampleLabels(path string, labels []string) error {
	ex, lines, err := readExamplesFile(path)
	if err != nil {
		return err
	}
	for i, e := range ex {
		if !slices.Contains(labels, e.Label) {
			return fmt.Errorf("examples %s:%d: label %q is not one of -labels %s", path, lines[i], e.Label, strings.Join(labels, ","))
		}
	}
	return nil
}

// readExamplesFile reads examples with their line numbers, by extension as
// ReadExamples does.
func readExamplesFile(path string) ([]cohere.ClassifyExample, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("examples: %w", err)
	}
	defer f.Close()
	if strings.HasSuffix(strings.ToLower(path), ".csv") {
		return readExamplesCSV(path, f)
	}
	return readExamplesJSONL(path, f)
}
