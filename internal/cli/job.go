package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/input"
)

// JobFlags are the flags that define a job. enqueue registers them beside
// its own; a worker's -schedule reads them from a job file. One
// implementation, so that a job file means the same in both.
type JobFlags struct {
	inputs          ListFlag
	op              string
	model           string
	inputType       string
	embeddingTypes  string
	dimensions      int
	truncate        string
	format          string
	idField         string
	textField       string
	metaFields      string
	idFrom          string
	maxRecordBytes  int
	spoolDir        string
	chunkSize       int
	sink            string
	table           string
	pgType          string
	index           string
	distance        string
	indexM          int
	indexEF         int
	indexConc       bool
	force           bool
	strict          bool
	job             string
	async           pipeline.AsyncOptions
	examples        string
	candidates      string
	topN            int
	maxTokensPerDoc int
	pricePerMTok    float64
	maxCost         float64
	chat            chatFlags
	classify        classifyFlags
	corpus          pipeline.CorpusOptions
}

// AddInputs adds inputs given as positional arguments.
func (j *JobFlags) AddInputs(in ...string) { j.inputs = append(j.inputs, in...) }

// ID is the -job flag (empty: derived from the spec).
func (j *JobFlags) ID() string { return j.job }

// SetID overrides the -job flag.
func (j *JobFlags) SetID(id string) { j.job = id }

// ListFlag collects a repeated flag; each value may also be a comma list.
type ListFlag []string

func (l *ListFlag) String() string { return strings.Join(*l, ",") }

// Set adds v's comma-separated values.
func (l *ListFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// Register adds the job's flags to fs.
func (j *JobFlags) Register(fs *flag.FlagSet) {
	fs.Var(&j.inputs, "in", "input file, glob or - for stdin; repeatable or comma-separated (positional arguments also count). Formats: .jsonl .csv .parquet .txt, optionally .gz or .zst")
	fs.StringVar(&j.op, "op", pipeline.OpEmbed, "operation: embed, classify, rerank or chat")
	fs.StringVar(&j.model, "model", "", "Cohere model (default embed-v4.0 for embed, rerank-v3.5 for rerank; classify: a fine-tuned model id, or none with -examples)")
	fs.StringVar(&j.inputType, "input-type", pipeline.DefaultInputType, "input_type: search_document, search_query, classification or clustering")
	fs.StringVar(&j.embeddingTypes, "embedding-types", "float", "comma list of float, int8, uint8, binary, ubinary")
	fs.IntVar(&j.dimensions, "dimensions", 0, "output_dimension for embed-v4 models: 256, 512, 1024 or 1536 (0: the model's default)")
	fs.StringVar(&j.truncate, "truncate", "", "truncate: NONE, START or END (empty: the API's default, END)")
	fs.StringVar(&j.format, "format", "auto", "input format: auto (by extension), jsonl, csv, parquet or text")
	fs.StringVar(&j.idField, "id-field", "", "field holding each record's id (default id; rerank: query_id)")
	fs.StringVar(&j.textField, "text-field", "", "field holding the text; a comma list is joined with a blank line (default text; rerank: query)")
	fs.StringVar(&j.metaFields, "meta-fields", "", "comma list of fields carried into the sink's metadata as JSON")
	fs.StringVar(&j.idFrom, "id-from", "", "for records without an id: line (file:line) or hash (of the text); empty: an id is required (text files default to line)")
	fs.StringVar(&j.spoolDir, "spool-dir", "", "where each gzip/zstd input is decompressed once for its chunks to read (default: beside the input; workers must see it at the same path)")
	fs.IntVar(&j.maxRecordBytes, "max-record-bytes", 0, "a longer input line is dead-lettered (default 1 MiB; rerank queries carrying their documents: 64 MiB)")
	fs.IntVar(&j.chunkSize, "chunk-size", 0, "records per chunk task (default 960; rerank: 100 queries)")
	fs.StringVar(&j.sink, "sink", "parquet:./out", "where results go: parquet:DIR, postgres (DATABASE_URL) or a postgres:// URL")
	fs.StringVar(&j.table, "table", "", "target table for a postgres sink (schema-qualified allowed)")
	fs.StringVar(&j.pgType, "pg-type", "vector", "postgres column type for float embeddings: vector or halfvec")
	fs.StringVar(&j.index, "index", "", "postgres: build an index once the job is loaded: hnsw (empty: none; an equivalent existing index is kept)")
	fs.StringVar(&j.distance, "distance", "cosine", "index distance: cosine, l2 or ip (float column); hamming or jaccard (binary column)")
	fs.IntVar(&j.indexM, "index-m", 16, "HNSW m (graph degree)")
	fs.IntVar(&j.indexEF, "index-ef-construction", 64, "HNSW ef_construction")
	fs.BoolVar(&j.indexConc, "index-concurrently", false, "build the index with CREATE INDEX CONCURRENTLY (for a table already serving queries)")
	fs.BoolVar(&j.force, "force", false, "re-embed records the sink already holds unchanged")
	fs.BoolVar(&j.strict, "strict", false, "abort the job on the first bad input record instead of dead-lettering it")
	fs.StringVar(&j.job, "job", "", "job id (default: derived from the inputs and the spec, so the same command resumes the same job)")
	fs.StringVar(&j.async.Async, "async", pipeline.AsyncAuto, "route: auto (the async route the model supports when the job has more than -async-threshold records), embed-jobs (v3 models), batches (batch models; chat: the chat model's own batches) or off; stdin is always sync")
	fs.IntVar(&j.async.AsyncThreshold, "async-threshold", pipeline.DefaultAsyncThreshold, "-async auto: records above which the job goes async")
	fs.StringVar(&j.async.BatchModel, "batch-model", "", "model of an embed batch (default: embed-v4.0 runs as batch-embed-v4); a chat batch runs its -model and refuses this flag")
	fs.StringVar(&j.async.AsyncFallback, "async-fallback", pipeline.FallbackSync, "records an async job failed or did not return: sync (run them through the sync route) or dead-letter")
	fs.BoolVar(&j.async.KeepDatasets, "keep-datasets", false, "keep the datasets an async job uploaded and read (default: deleted once read)")
	fs.StringVar(&j.examples, "examples", "", "classify: few-shot examples, JSONL {text, label} or CSV with text,label columns (≥2 labels, ≥2 examples each, ≤2500); checked before any call")
	fs.StringVar(&j.candidates, "candidates", "", "rerank: JSONL {query_id, doc_id, text} holding the documents of the queries in -in (scanned once per chunk)")
	fs.IntVar(&j.topN, "top-n", 0, "rerank: keep the N best documents of each query (0: all)")
	fs.IntVar(&j.maxTokensPerDoc, "max-tokens-per-doc", 0, "rerank: truncate documents to this many tokens (0: the API's default, 4096)")
	j.classify.register(fs)
	fs.Float64Var(&j.pricePerMTok, "price-per-mtok", 0, "price in USD per million billed tokens (rerank: per 1,000 searches) for the estimate and -max-cost (0: the model's list price: embed-v4 0.12, v3 and older 0.10, rerank 2.0; classify has none)")
	j.chat.register(fs)
	fs.StringVar(&j.corpus.Split, "split", "none", "embed: none, paragraphs or tokens:N[,overlap:M]: embed each document as passages with ids DOCID#NNNN (doc_id, chunk_index, char_start, char_end columns); a changed document replaces all of its passages")
	fs.BoolVar(&j.corpus.StoreText, "store-text", false, "embed: store the embedded text (the passage, when split) in a text column")
	fs.BoolVar(&j.corpus.Prune, "prune", false, "embed: after a run that finished every chunk, delete the rows whose ids (documents and their passages) the input no longer holds; refused for stdin")
	fs.BoolVar(&j.corpus.PruneDryRun, "prune-dry-run", false, "embed: as -prune, but only list what would be deleted")
	fs.Float64Var(&j.maxCost, "max-cost", 0, "budget in USD: a job estimated above it never starts, and one that would cross it stops (exit 3) with what it wrote kept (0: no limit)")
}

// Spec turns the flags into a validated job spec, and returns the database
// URL a postgres sink uses (kept out of the spec: it may hold a password).
// Relative paths are made absolute against the working directory.
func (j *JobFlags) Spec(env Env) (pipeline.Spec, string, error) {
	if len(j.inputs) == 0 {
		return pipeline.Spec{}, "", errors.New("-in: no input given (see -h)")
	}
	var inputs []string
	for _, in := range j.inputs {
		if in == "-" {
			inputs = append(inputs, in)
			continue
		}
		abs, err := filepath.Abs(in)
		if err != nil {
			return pipeline.Spec{}, "", fmt.Errorf("-in %s: %w", in, err)
		}
		inputs = append(inputs, abs)
	}
	spec := pipeline.Spec{
		ID: j.job, Op: j.op, Model: j.model, InputType: j.inputType,
		EmbeddingTypes: splitList(j.embeddingTypes), Dimensions: j.dimensions, Truncate: j.truncate,
		Inputs: inputs,
		Input: input.Options{
			Format: input.Format(j.format), IDField: j.idField, TextFields: splitList(j.textField),
			MetaFields: splitList(j.metaFields), IDFrom: j.idFrom, MaxRecordBytes: j.maxRecordBytes,
			SpoolDir: spoolDir(j.spoolDir),
		},
		ChunkSize: j.chunkSize, Table: j.table, PGType: j.pgType, Force: j.force, Strict: j.strict,
		CreatedAt: time.Now().UTC(),
	}
	if j.index != "" {
		spec.Index = &pipeline.Index{Method: j.index, Distance: j.distance, M: j.indexM,
			EfConstruction: j.indexEF, Concurrently: j.indexConc}
	}
	spec.AsyncOptions = j.async
	spec.CorpusOptions = j.corpus
	if j.pricePerMTok < 0 || j.maxCost < 0 {
		return spec, "", errors.New("-price-per-mtok and -max-cost must not be negative")
	}
	spec.Budget = pipeline.Budget{PricePerMTok: j.pricePerMTok, MaxCost: j.maxCost}
	dbURL := env.DatabaseURL
	switch {
	case j.sink == "postgres":
		spec.Sink = "postgres"
		if dbURL == "" {
			return spec, "", errors.New("-sink postgres: DATABASE_URL is not set (or give -sink postgres://...)")
		}
	case strings.HasPrefix(j.sink, "postgres://"), strings.HasPrefix(j.sink, "postgresql://"):
		spec.Sink, dbURL = "postgres", j.sink
	case strings.HasPrefix(j.sink, "parquet:"):
		dir, err := filepath.Abs(strings.TrimPrefix(j.sink, "parquet:"))
		if err != nil {
			return spec, "", fmt.Errorf("-sink: %w", err)
		}
		spec.Sink = "parquet:" + dir
	default:
		spec.Sink = j.sink
	}
	if err := j.applyOps(&spec); err != nil {
		return spec, "", err
	}
	if err := j.chat.apply(&spec); err != nil {
		return spec, "", err
	}
	if err := recordDatabase(&spec, dbURL); err != nil {
		return spec, "", err
	}
	spec = spec.WithDefaults()
	if spec.ID == "" {
		spec.ID = pipeline.DefaultJobID(spec)
	}
	if err := checkJobID(spec.ID); err != nil {
		return spec, "", err
	}
	if err := spec.Validate(); err != nil {
		return spec, "", err
	}
	if spec.MaxCost > 0 && spec.Price() == 0 {
		return spec, "", fmt.Errorf("-max-cost: a %s job has no default price; give -price-per-mtok", spec.Op)
	}
	if spec.MaxCost > 0 && spec.PaysOutput() && spec.PriceOut() == 0 {
		// Its output tokens would count for nothing against -max-cost.
		return spec, "", fmt.Errorf("-max-cost: model %s has no list price for output tokens; give -price-per-mtok-out", spec.Model)
	}
	if err := spec.Precheck(context.Background()); err != nil {
		return spec, "", err
	}
	return spec, dbURL, nil
}

// applyOps reads the examples (so that a bad file stops here, naming its
// line) and resolves the candidates path for workers running elsewhere.
func (j *JobFlags) applyOps(spec *pipeline.Spec) error {
	if j.examples != "" {
		ex, err := pipeline.ReadExamples(j.examples)
		if err != nil {
			return fmt.Errorf("-examples: %w", err)
		}
		spec.Examples = ex
	}
	if j.candidates != "" {
		abs, err := filepath.Abs(j.candidates)
		if err != nil {
			return fmt.Errorf("-candidates %s: %w", j.candidates, err)
		}
		spec.Candidates = abs
	}
	spec.TopN, spec.MaxTokensPerDoc = j.topN, j.maxTokensPerDoc
	return j.classify.apply(spec, j.op, j.examples)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// maxJobID bounds a job id: it names Redis keys and a directory of the
// Parquet sink.
const maxJobID = 128

// checkJobID refuses an id that could reach another job's Redis keys (":"
// separates their parts in pipeline/keyspace/keyspace.go) or leave the Parquet sink's
// directory ("/", ".."), before anything is planned.
func checkJobID(id string) error {
	if len(id) > maxJobID {
		return fmt.Errorf("-job %.20q…: a job id has at most %d characters, this one %d", id, maxJobID, len(id))
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("-job %q: a job id holds only letters, digits, '.', '_' and '-' (1 to %d of them)", id, maxJobID)
		}
	}
	if id == "." || id == ".." {
		return fmt.Errorf("-job %q: a job id must not be \".\" or \"..\"", id)
	}
	return nil
}

// spoolDir makes a given spool directory absolute, for workers started
// elsewhere.
func spoolDir(dir string) string {
	if dir == "" {
		return ""
	}
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}
