package cli

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/cobatch/cobatch/pipeline"
)

// chatFlags are the flags of -op chat.
type chatFlags struct {
	prompt, promptFile, system, jsonSchema string
	maxTokens                              int
	temperature                            float64
	seed                                   int64
	storePrompt                            bool
	pricePerMTokOut                        float64
}

func (c *chatFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.prompt, "prompt", "", "chat: the user prompt, a Go text/template over each record's fields: {{.id}}, {{.text}}, {{.title}}, ...")
	fs.StringVar(&c.promptFile, "prompt-file", "", "chat: read the prompt template from this file")
	fs.StringVar(&c.system, "system", "", "chat: system prompt, TEXT or @FILE")
	fs.StringVar(&c.jsonSchema, "json-schema", "", "chat: JSON Schema FILE for structured output; each reply is validated against it, retried once, then dead-lettered")
	fs.IntVar(&c.maxTokens, "max-tokens", 0, "chat: bound on each reply's tokens (0: the model's maximum); a reply cut there is written with finish_reason MAX_TOKENS; required with -max-cost unless -async off (a batch may bill each reply up to the model's maximum)")
	fs.Float64Var(&c.temperature, "temperature", 0, "chat: sampling temperature, 0 to 1")
	fs.Int64Var(&c.seed, "seed", -1, "chat: seed for best-effort repeatable replies (-1: none)")
	fs.BoolVar(&c.storePrompt, "store-prompt", false, "chat: write each record's rendered prompt in a prompt column")
	fs.Float64Var(&c.pricePerMTokOut, "price-per-mtok-out", 0, "chat, and classify -via chat: price in USD per million output tokens (0: the model's list price; list prices of June 2025 in USD per million input/output tokens: command-a-03-2025 and command-r-plus-08-2024 2.50/10.00, command-r-08-2024 0.15/0.60, command-r7b-12-2024 0.0375/0.15)")
}

// apply reads the prompt, system prompt and schema files into the spec.
func (c *chatFlags) apply(spec *pipeline.Spec) error {
	if spec.Op != pipeline.OpChat {
		if c.prompt != "" || c.promptFile != "" || c.system != "" || c.jsonSchema != "" || c.maxTokens != 0 || c.storePrompt {
			return fmt.Errorf("-prompt, -prompt-file, -system, -json-schema, -max-tokens and -store-prompt are -op chat flags")
		}
		if spec.Op == pipeline.OpClassify {
			// The chat route of a classify job pays output tokens too.
			spec.PricePerMTokOut = c.pricePerMTokOut
		}
		return nil
	}
	o := pipeline.ChatOptions{Prompt: c.prompt, System: c.system, MaxTokens: c.maxTokens, Temperature: c.temperature,
		StorePrompt: c.storePrompt, PricePerMTokOut: c.pricePerMTokOut}
	if c.promptFile != "" {
		if c.prompt != "" {
			return fmt.Errorf("-prompt and -prompt-file: give one")
		}
		b, err := os.ReadFile(c.promptFile)
		if err != nil {
			return fmt.Errorf("-prompt-file: %w", err)
		}
		o.Prompt = string(b)
	}
	if f, ok := strings.CutPrefix(c.system, "@"); ok {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("-system: %w", err)
		}
		o.System = string(b)
	}
	if c.jsonSchema != "" {
		b, err := os.ReadFile(c.jsonSchema)
		if err != nil {
			return fmt.Errorf("-json-schema: %w", err)
		}
		o.JSONSchema = b
	}
	if c.seed >= 0 {
		seed := c.seed
		o.Seed = &seed
	}
	spec.ChatOptions = o
	return nil
}
