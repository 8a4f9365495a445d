package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/pipeline"
)

// options are enqueue's flags.
type options struct {
	inputs         listFlag
	op             string
	model          string
	inputType      string
	embeddingTypes string
	dimensions     int
	truncate       string
	format         string
	idField        string
	textField      string
	metaFields     string
	idFrom         string
	maxRecordBytes int
	chunkSize      int
	sink           string
	table          string
	pgType         string
	index          string
	distance       string
	indexM         int
	indexEF        int
	indexConc      bool
	force          bool
	strict         bool
	job            string
	wait           optionalBool
	redisURL       string
	concurrency    int
	rateLimit      string
	queue          string
	apiTimeout     time.Duration
	sim            bool
	query          string
	status         string
	deadLetters    string
	cancel         string
	logFormat      string
	verbose        bool
	async          pipeline.AsyncOptions
	ops            opFlags
}

// listFlag collects a repeated flag; each value may also be a comma list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// optionalBool is a bool flag that knows whether it was given.
type optionalBool struct{ set, v bool }

func (b *optionalBool) String() string {
	if !b.set {
		return "true when embedded, else false"
	}
	return fmt.Sprint(b.v)
}
func (b *optionalBool) Set(s string) error {
	switch s {
	case "true", "1", "":
		b.v = true
	case "false", "0":
		b.v = false
	default:
		return fmt.Errorf("want true or false, got %q", s)
	}
	b.set = true
	return nil
}
func (b *optionalBool) IsBoolFlag() bool { return true }

func newFlagSet(o *options, env cli.Env) *flag.FlagSet {
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: enqueue -in FILE [-in FILE ...] [flags]
       enqueue -status JOB | -dead-letters JOB | -cancel JOB

Plans a job: splits the input files into chunk tasks on Redis for workers to
embed through the Cohere API, and with -wait follows it to the end. Without
Redis (no -redis, no REDIS_URL) it runs embedded: an in-process queue and
-concurrency in-process workers run the whole job, then exit.

Every record ends written, skipped (the sink already holds it unchanged) or
failed (dead-lettered with file, line and reason). Running the same command
again resumes the job; after a job finished, it re-embeds only what changed.

Exit codes: 0 all records written or skipped; 2 finished with failed records;
3 aborted (auth, quota, billing, sink unreachable); 1 usage or configuration
error before anything ran.

Environment:
  COHERE_API_KEY    Cohere API key (or COHERE_API_KEY_FILE naming a file holding it)
  COHERE_BASE_URL   API base URL (default https://api.cohere.com)
  REDIS_URL         Redis holding the queue; unset: embedded mode
  DATABASE_URL      PostgreSQL for -sink postgres

Flags:
`)
		fs.PrintDefaults()
	}
	fs.Var(&o.inputs, "in", "input file, glob or - for stdin; repeatable or comma-separated (positional arguments also count). Formats: .jsonl .csv .parquet .txt, optionally .gz or .zst")
	fs.StringVar(&o.op, "op", pipeline.OpEmbed, "operation: embed, classify or rerank")
	fs.StringVar(&o.model, "model", "", "Cohere model (default embed-v4.0 for embed, rerank-v3.5 for rerank; classify: a fine-tuned model id, or none with -examples)")
	fs.StringVar(&o.inputType, "input-type", pipeline.DefaultInputType, "input_type: search_document, search_query, classification or clustering")
	fs.StringVar(&o.embeddingTypes, "embedding-types", "float", "comma list of float, int8, uint8, binary, ubinary")
	fs.IntVar(&o.dimensions, "dimensions", 0, "output_dimension for embed-v4 models: 256, 512, 1024 or 1536 (0: the model's default)")
	fs.StringVar(&o.truncate, "truncate", "", "truncate: NONE, START or END (empty: the API's default, END)")
	fs.StringVar(&o.format, "format", "auto", "input format: auto (by extension), jsonl, csv, parquet or text")
	fs.StringVar(&o.idField, "id-field", "", "field holding each record's id (default id; rerank: query_id)")
	fs.StringVar(&o.textField, "text-field", "", "field holding the text; a comma list is joined with a blank line (default text; rerank: query)")
	fs.StringVar(&o.metaFields, "meta-fields", "", "comma list of fields carried into the sink's metadata as JSON")
	fs.StringVar(&o.idFrom, "id-from", "", "for records without an id: line (file:line) or hash (of the text); empty: an id is required (text files default to line)")
	fs.IntVar(&o.maxRecordBytes, "max-record-bytes", 0, "a longer input line is dead-lettered (default 1 MiB; rerank queries carrying their documents: 64 MiB)")
	fs.IntVar(&o.chunkSize, "chunk-size", 0, "records per chunk task (default 960; rerank: 100 queries)")
	fs.StringVar(&o.sink, "sink", "parquet:./out", "where results go: parquet:DIR, postgres (DATABASE_URL) or a postgres:// URL")
	fs.StringVar(&o.table, "table", "", "target table for a postgres sink (schema-qualified allowed)")
	fs.StringVar(&o.pgType, "pg-type", "vector", "postgres column type for float embeddings: vector or halfvec")
	fs.StringVar(&o.index, "index", "", "postgres: build an index once the job is loaded: hnsw (empty: none; an equivalent existing index is kept)")
	fs.StringVar(&o.distance, "distance", "cosine", "index distance: cosine, l2 or ip (float column); hamming or jaccard (binary column)")
	fs.IntVar(&o.indexM, "index-m", 16, "HNSW m (graph degree)")
	fs.IntVar(&o.indexEF, "index-ef-construction", 64, "HNSW ef_construction")
	fs.BoolVar(&o.indexConc, "index-concurrently", false, "build the index with CREATE INDEX CONCURRENTLY (for a table already serving queries)")
	fs.BoolVar(&o.force, "force", false, "re-embed records the sink already holds unchanged")
	fs.BoolVar(&o.strict, "strict", false, "abort the job on the first bad input record instead of dead-lettering it")
	fs.StringVar(&o.job, "job", "", "job id (default: derived from the inputs and the spec, so the same command resumes the same job)")
	fs.Var(&o.wait, "wait", "follow the job to its end and exit with its outcome (default true when embedded, else false)")
	fs.StringVar(&o.redisURL, "redis", "", "Redis URL (redis://[:password@]host:port/db); default $REDIS_URL; neither: embedded mode")
	fs.IntVar(&o.concurrency, "concurrency", 8, "embedded mode: chunk tasks processed at once")
	fs.StringVar(&o.rateLimit, "rate-limit", "", "embedded mode: override API rate limits, e.g. 'embed=2000/1m,rerank=1000/1m' (embed counts inputs, others requests); default Cohere's production limits")
	fs.StringVar(&o.queue, "queue", pipeline.DefaultQueue, "asynq queue for the job's tasks")
	fs.DurationVar(&o.apiTimeout, "api-timeout", 60*time.Second, "embedded mode: timeout of one API call attempt")
	fs.BoolVar(&o.sim, "sim", false, "run against the built-in Cohere simulator (deterministic vectors, no key, no network) instead of the real API")
	fs.StringVar(&o.query, "query", "", "after the job, embed this query and print the 5 nearest records")
	fs.StringVar(&o.status, "status", "", "print the status of job JOB and exit")
	fs.StringVar(&o.deadLetters, "dead-letters", "", "print the failed records of job JOB (JSON lines) and exit")
	fs.StringVar(&o.cancel, "cancel", "", "cancel job JOB: no new API calls; in-flight chunks stop")
	fs.StringVar(&o.logFormat, "log-format", "", "log format: text or json (default: text on a terminal, else json)")
	fs.BoolVar(&o.verbose, "v", false, "debug logging")
	asyncFlags(fs, &o.async)
	registerOpFlags(fs, &o.ops)
	return fs
}
