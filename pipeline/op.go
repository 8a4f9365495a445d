package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cobatch/cobatch/sinks"
)

// Op is one operation a job can run: everything the pipeline needs to know
// of it, registered once (RegisterOp) from the operation's own files. No
// other code in this package switches on its name; the sinks still tell its
// row kind apart (sinks.Chunk), so a new operation is its files, a cohere
// call, a row type and each sink's writer for it.
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
	// Process runs one chunk and returns what the sink is to write.
	Process func(ctx context.Context, w *Worker, spec Spec, sink Sink, p ChunkPayload) (*sinks.Chunk, error)
	// Async is the operation's part in the async route (async_op.go); nil
	// for an operation that runs the synchronous route only.
	Async asyncOp
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
