package main

import (
	"flag"
	"fmt"
	"path/filepath"

	"github.com/cobatch/cobatch/pipeline"
)

// opFlags are the flags of the classify and rerank operations.
type opFlags struct {
	examples        string
	candidates      string
	topN            int
	maxTokensPerDoc int
}

func registerOpFlags(fs *flag.FlagSet, o *opFlags) {
	fs.StringVar(&o.examples, "examples", "", "classify: few-shot examples, JSONL {text, label} or CSV with text,label columns (≥2 labels, ≥2 examples each, ≤2500); checked before any call")
	fs.StringVar(&o.candidates, "candidates", "", "rerank: JSONL {query_id, doc_id, text} holding the documents of the queries in -in (scanned once per chunk)")
	fs.IntVar(&o.topN, "top-n", 0, "rerank: keep the N best documents of each query (0: all)")
	fs.IntVar(&o.maxTokensPerDoc, "max-tokens-per-doc", 0, "rerank: truncate documents to this many tokens (0: the API's default, 4096)")
}

// apply reads the examples (so that a bad file stops here, naming its line)
// and resolves the candidates path for workers running elsewhere.
func (o opFlags) apply(spec *pipeline.Spec) error {
	if o.examples != "" {
		ex, err := pipeline.ReadExamples(o.examples)
		if err != nil {
			return fmt.Errorf("-examples: %w", err)
		}
		spec.Examples = ex
	}
	if o.candidates != "" {
		abs, err := filepath.Abs(o.candidates)
		if err != nil {
			return fmt.Errorf("-candidates %s: %w", o.candidates, err)
		}
		spec.Candidates = abs
	}
	spec.TopN, spec.MaxTokensPerDoc = o.topN, o.maxTokensPerDoc
	return nil
}
