package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/cobatch/cobatch/cohere/schema"
)

// OpChat prompts a chat model once per record: one reply row per record.
const OpChat = "chat"

// Defaults of a chat job.
const (
	DefaultChatModel     = "command-a-03-2025"
	DefaultChatChunkSize = 100 // records, one call each: a retried chunk repeats at most 100 calls
)

// ChatOptions are a chat job's flags. The template and the schema travel in
// the spec (they are the job's, not a record's).
type ChatOptions struct {
	// Prompt is the user message: a Go text/template over the record's
	// fields (.id, .text and every other field of the input).
	Prompt string `json:"prompt,omitempty"`
	// System is the system message, sent as is ("" sends none).
	System string `json:"system,omitempty"`
	// JSONSchema asks for structured output (response_format json_object
	// with this schema); each reply is parsed and validated before it is
	// written.
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
	// MaxTokens bounds each reply (0: the model's maximum).
	MaxTokens int `json:"max_tokens,omitempty"`
	// Temperature is always sent: 0 (the default) makes replies as
	// repeatable as the model allows.
	Temperature float64 `json:"temperature,omitempty"`
	Seed        *int64  `json:"seed,omitempty"`
	// StorePrompt writes each record's rendered prompt beside its reply.
	StorePrompt bool `json:"store_prompt,omitempty"`
	// PricePerMTokOut is the price in USD of one million billed output
	// tokens (0: the model's list price, ChatPrices).
	PricePerMTokOut float64 `json:"price_per_mtok_out,omitempty"`
}

// ChatPrices are Cohere's list prices in USD per million input and output
// tokens for the chat models, as published in June 2025.
var ChatPrices = map[string][2]float64{
	"command-a-03-2025":      {2.50, 10.00},
	"command-r-plus-08-2024": {2.50, 10.00},
	"command-r-08-2024":      {0.15, 0.60},
	"command-r7b-12-2024":    {0.0375, 0.15},
}

func init() {
	RegisterOp(Op{
		Name:           OpChat,
		Defaults:       chatDefaults,
		Validate:       chatValidate,
		Fingerprint:    chatFingerprint,
		Price:          func(model string) float64 { return ChatPrices[model][0] },
		RecordsPerCall: 1,
		Precheck:       chatPrecheck,
		Endpoint:       func(Spec) (string, bool) { return "chat", false },
		Estimate:       chatEstimate,
		Process:        chatChunk,
		Async:          chatAsync{},
	})
}

// PriceOut is the job's price per million output tokens: -price-per-mtok-out
// or the model's list price.
func (s Spec) PriceOut() float64 {
	if s.PricePerMTokOut > 0 {
		return s.PricePerMTokOut
	}
	return ChatPrices[s.Model][1]
}

// PaysOutput tells a job billed for output tokens: chat, and classify's
// chat route (-via auto already resolved by WithDefaults).
func (s Spec) PaysOutput() bool {
	return s.Op == OpChat || s.Op == OpClassify && s.Via == ViaChat
}

// replyBound is the output tokens a record's reply is reckoned at:
// -max-tokens, or ChatEstimateOutput without it (0 for other operations).
func (s Spec) replyBound() int64 {
	switch {
	case s.Op != OpChat:
		return 0
	case s.MaxTokens > 0:
		return int64(s.MaxTokens)
	}
	return ChatEstimateOutput
}

func chatDefaults(s Spec) Spec {
	if s.Model == "" {
		s.Model = DefaultChatModel
	}
	if s.ChunkSize <= 0 {
		s.ChunkSize = DefaultChatChunkSize
	}
	// The fields the template reads besides id and text travel with each
	// record as its metadata.
	if t, err := parseChatTemplate(s.Prompt); err == nil {
		for _, f := range t.fields {
			if f != "id" && f != "text" && !slices.Contains(s.Input.MetaFields, f) {
				s.Input.MetaFields = append(s.Input.MetaFields, f)
			}
		}
	}
	s.AsyncOptions = s.AsyncOptions.withDefaults()
	return s
}

func chatValidate(s Spec) []error {
	var errs []error
	if s.Prompt == "" {
		errs = append(errs, errors.New("-op chat: give -prompt TEMPLATE or -prompt-file FILE"))
	} else if _, err := parseChatTemplate(s.Prompt); err != nil {
		errs = append(errs, fmt.Errorf("-prompt: %w", err))
	}
	if len(s.JSONSchema) > 0 {
		if _, err := schema.Compile(s.JSONSchema); err != nil {
			errs = append(errs, fmt.Errorf("-json-schema: %w", err))
		}
	}
	if s.MaxTokens < 0 {
		errs = append(errs, fmt.Errorf("-max-tokens %d: want 0 (the model's maximum) or more", s.MaxTokens))
	}
	if s.MaxCost > 0 && s.MaxTokens == 0 && s.Async != AsyncOff {
		// A batch reply may run to the model's maximum, which the budget's
		// reservation (async_budget.go) cannot know.
		errs = append(errs, fmt.Errorf("-max-cost with -async %s: give -max-tokens (a batch may bill each reply up to the model's maximum), or -async off", s.Async))
	}
	if s.Temperature < 0 || s.Temperature > 1 {
		errs = append(errs, fmt.Errorf("-temperature %g: want 0 to 1", s.Temperature))
	}
	if s.PricePerMTokOut < 0 {
		errs = append(errs, errors.New("-price-per-mtok-out must not be negative"))
	}
	if len(s.Examples) > 0 || s.ExamplesSHA256 != "" || s.Candidates != "" || s.TopN != 0 || s.MaxTokensPerDoc != 0 {
		errs = append(errs, errors.New("-examples, -candidates, -top-n and -max-tokens-per-doc are classify and rerank flags"))
	}
	if s.Truncate != "" {
		errs = append(errs, errors.New("-truncate: a chat prompt over the model's context is dead-lettered, not truncated"))
	}
	if s.BatchModel != "" {
		// Each line's body names -model (chatJob.request): a batch under
		// another model would disagree with its own lines.
		errs = append(errs, errors.New("-batch-model: a chat batch runs its -model; give -model instead"))
	}
	// The sync-only checks but -async's: chat has the Batches route.
	sync := s
	sync.Async = AsyncOff
	errs = append(errs, validateSyncOnly(sync)...)
	return append(errs, s.validateAsync()...)
}

// chatFingerprint: the model, the prompt template, the system prompt, the
// schema and the sampling decide a record's reply; the record's own fields
// are in its content hash (the rendered prompt's).
func chatFingerprint(s Spec) string {
	seed := "-"
	if s.Seed != nil {
		seed = strconv.FormatInt(*s.Seed, 10)
	}
	return fmt.Sprintf("chat|%s|%s|%s|%s|%d|%g|%s", s.Model, shortHash(s.Prompt), shortHash(s.System),
		shortHash(string(s.JSONSchema)), s.MaxTokens, s.Temperature, seed)
}

// shortHash names a text in a fingerprint: the first 16 hex digits of its
// SHA-256 ("" for no text).
func shortHash(s string) string {
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
