package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/sinks"
)

// Op is one operation a job can run: everything the pipeline needs to know
// of it, registered once (RegisterOp) from the operation's own files. No
// other code switches on its name: a new operation declares the kind of row
// it writes (RowKind), which every sink writes without code of its own, so
// it is its own files, a cohere call and that declaration. Its Process is a
// function of its inputs: it reads the chunk's records with Deps.Records,
// makes its calls with Deps.Call, and returns its rows in
// sinks.Chunk.Declared (pipeline/rowkind_test.go is such an operation,
// registered from a test).
//
// The operations built in (embed, classify, rerank, chat) predate RowKind:
// their rows have types and writers of their own in the sinks.
type Op struct {
	Name string
	// Defaults fills the spec's unset fields the operation cares about.
	Defaults func(Spec) Spec
	// Validate lists the spec's problems, each naming the flag to fix; the
	// checks every operation shares (inputs, chunking, sink) are made too.
	Validate func(Spec) []error
	// Fingerprint identifies what besides a record's text decides its
	// result: a stored row with the same content hash and fingerprint is
	// not paid for again.
	Fingerprint func(Spec) string
	// Price is the list price in USD of one billing unit for model: per
	// million tokens, or per 1,000 searches when SearchUnits is set.
	Price       func(model string) float64
	SearchUnits bool
	// RecordsPerCall is how many records one call carries, for estimates.
	RecordsPerCall int
	// Precheck, when set, is run by enqueue before the job is planned, on
	// the spec after Validate: checks that need the inputs (a chat
	// template's fields against the first record).
	Precheck func(ctx context.Context, s Spec) error
	// Estimate, when set, replaces EstimateCost's reckoning from text
	// lengths (chat: rendered prompts and the reply bound).
	Estimate func(ctx context.Context, s Spec) (Estimate, error)
	// Endpoint names the API endpoint the job's model must serve, as
	// /v1/models lists it ("embed", "rerank", ...), for the check before a
	// job starts (Preflight, preflight.go); passUnknown lets a model id the
	// models endpoint does not know through. Nil or "": no check.
	Endpoint func(Spec) (endpoint string, passUnknown bool)
	// Process runs one chunk and returns what the sink is to write; the
	// chunk's lifecycle (chunk.go) writes it and records the chunk.
	Process func(ctx context.Context, d *Deps, c Chunk) (*sinks.Chunk, error)
	// RowKind declares the operation's rows: the sink is told it when it
	// opens (sinks.Target.RowKind) and is handed the rows Process puts in
	// sinks.Chunk.Declared. Nil for the operations built in.
	RowKind *sinks.RowKind
	// Async is the operation's part in the async route (async_op.go); nil
	// for an operation that runs the synchronous route only.
	Async asyncOp
}

// Deps is what an operation's Process works with besides its chunk: the
// API clients, the job store, the shared limiters, and the steps every
// operation shares (Records, Call). A Worker holds one and hands it to every
// chunk it runs.
type Deps struct {
	Store    *Store
	Embedder Embedder
	// Classifier and Reranker serve classify and rerank jobs; when nil, the
	// Embedder serves them if it can (cohere.Client does).
	Classifier Classifier
	Reranker   Reranker
	// Chatter serves chat jobs; when nil, the Embedder serves them if it
	// can (cohere.Client does).
	Chatter Chatter
	// Limiter returns the shared limiter for an endpoint ("embed", ...).
	Limiter func(endpoint string) Limiter
	Log     *slog.Logger
	Metrics *Metrics // may be nil

	examples sync.Map // job id → []cohere.ClassifyExample, loaded once per job
	limits   sync.Map // model → passage.Limit, read once (corpus.go)
}

// Chunk is one chunk for an operation to process: the task's payload (its
// Chunk field is the chunk's number), its job's spec, and the job's sink,
// which Process only reads (Records looks up the records it holds
// unchanged); the rows Process returns are written by the chunk's lifecycle
// (chunk.go).
type Chunk struct {
	ChunkPayload
	Spec Spec
	Sink Sink
}

var (
	opsMu sync.RWMutex
	ops   = map[string]Op{}
)

// RegisterOp makes an operation available to jobs by its name.
func RegisterOp(op Op) {
	opsMu.Lock()
	defer opsMu.Unlock()
	if _, dup := ops[op.Name]; dup {
		panic("pipeline: operation registered twice: " + op.Name)
	}
	if op.RowKind != nil {
		if err := op.RowKind.Validate(); err != nil {
			panic("pipeline: operation " + op.Name + ": " + err.Error())
		}
	}
	ops[op.Name] = op
}

// LookupOp returns a registered operation; an unknown name is an error
// naming the operations there are.
func LookupOp(name string) (Op, error) {
	opsMu.RLock()
	defer opsMu.RUnlock()
	if op, ok := ops[name]; ok {
		return op, nil
	}
	names := make([]string, 0, len(ops))
	for n := range ops {
		names = append(names, n)
	}
	slices.Sort(names)
	return Op{}, fmt.Errorf("-op %q: want %s", name, strings.Join(names, ", "))
}

// Precheck runs the job's operation's Precheck, if it has one.
func (s Spec) Precheck(ctx context.Context) error {
	op, err := LookupOp(s.Op)
	if err != nil || op.Precheck == nil {
		return err
	}
	return op.Precheck(ctx, s)
}

// Record is a record of a chunk that an operation is to process, with the
// hash of its text: a row written for it carries that hash
// (sinks.Row.ContentSHA256) for Lookup to find it unchanged next time.
type Record struct {
	input.Record
	ContentSHA256 [32]byte
}

// Failure dead-letters the record with reason, for sinks.Chunk.Failed.
func (r Record) Failure(reason string) sinks.Failure { return failure(r.Record, reason) }

// Records reads the chunk's records for an operation's Process and returns
// those it is to process. Into out go the others: unreadable records and
// repeated ids to out.Failed, records the sink holds with the same text and
// fingerprint to out.Kept (unless -force), as for the operations built in.
func (d *Deps) Records(ctx context.Context, c Chunk, out *sinks.Chunk) ([]Record, error) {
	items, err := d.readItems(ctx, c, out)
	if err != nil {
		return nil, err
	}
	todo, err := skipUnchanged(ctx, c, items, out)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, len(todo))
	for i, it := range todo {
		recs[i] = Record{Record: it.rec, ContentSHA256: it.sha}
	}
	return recs, nil
}
