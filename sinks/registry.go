package sinks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Sink stores a job's results. A worker opens one per job, shares it among
// its handlers and closes it when the job ends or has been idle a while.
type Sink interface {
	// Lookup returns the ids among keys the sink already holds with the
	// same content hash and fingerprint: records that need no new call.
	Lookup(ctx context.Context, job string, chunk int, keys []Key) (map[string]bool, error)
	// WriteChunk stores one chunk atomically and idempotently.
	WriteChunk(ctx context.Context, c *Chunk) error
	// Finish records the job's summary when every chunk is written.
	Finish(ctx context.Context, s Summary) error
	// Close releases what Open acquired (connections, files).
	Close() error
}

// Target is what a sink is told of the job it writes for.
type Target struct {
	Job string
	// Op names the job's operation, and so the kind of its rows.
	Op string
	// Location is what follows "scheme:" in -sink (a directory for
	// parquet:DIR); empty for a bare scheme.
	Location string
	// Table, Dims, PGType and EmbeddingTypes shape a table of vectors.
	Table          string
	Dims           int
	PGType         string
	EmbeddingTypes []string
	// Index asks for an ANN index once the job's rows are all written.
	Index *Index
	// DatabaseURL is the worker's own connection string (DATABASE_URL): the
	// job stored in Redis never holds one.
	DatabaseURL string
	// Database names the database the job was enqueued for (Kind.Database
	// of the URL enqueue used); a sink whose DatabaseURL reaches another one
	// refuses to open with ErrOtherTarget. Empty: not checked.
	Database string
	// Corpus says which passage columns an embed job's rows carry.
	Corpus Corpus
	// RowKind is the kind of row the job's operation declared; nil for
	// the kinds each sink knows (embeddings, classifications, rerank and
	// chat results).
	RowKind *RowKind
}

// ErrOtherTarget means a worker's sink would write somewhere other than the
// job was enqueued for: no retry can help, the job stops.
var ErrOtherTarget = errors.New("the worker's sink is not the job's")

// Index asks for an approximate-nearest-neighbour index, built once when the
// job's chunks are all written: building it before the bulk load makes the
// load many times slower.
type Index struct {
	Method         string `json:"method"`             // "hnsw"
	Distance       string `json:"distance,omitempty"` // cosine, l2, ip (float); hamming, jaccard (bit)
	M              int    `json:"m,omitempty"`
	EfConstruction int    `json:"ef_construction,omitempty"`
	Concurrently   bool   `json:"concurrently,omitempty"` // for a table already serving queries
}

// Kind is a sink as it registers itself: the -sink scheme it answers to, how
// to open it, and the capabilities it declares.
type Kind struct {
	Scheme string
	Open   func(ctx context.Context, t Target) (Sink, error)
	// NeedsTable: the sink writes into a named table (-table is required).
	NeedsTable bool
	// Indexes: the sink can build an ANN index (-index).
	Indexes bool
	// Transient reports a write error worth retrying as is (the write is
	// idempotent); nil: none is.
	Transient func(error) bool
	// Database names the database a connection string reaches, without
	// its password (user@host:port/database); nil for a sink that writes
	// to no database.
	Database func(databaseURL string) (string, error)
}

var (
	mu    sync.RWMutex
	kinds = map[string]Kind{}
)

// Register makes a sink kind available under its scheme; each sink package
// calls it once, from init.
func Register(k Kind) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := kinds[k.Scheme]; dup {
		panic("sinks: scheme registered twice: " + k.Scheme)
	}
	kinds[k.Scheme] = k
}

// Split cuts a -sink value into its scheme and location: "parquet:DIR" is
// ("parquet", "DIR"), "postgres" is ("postgres", "").
func Split(sink string) (scheme, location string) {
	scheme, location, _ = strings.Cut(sink, ":")
	return scheme, location
}

// Lookup returns the registered kind of a -sink value.
func Lookup(sink string) (Kind, error) {
	scheme, _ := Split(sink)
	mu.RLock()
	defer mu.RUnlock()
	k, ok := kinds[scheme]
	if !ok {
		names := make([]string, 0, len(kinds))
		for n := range kinds {
			names = append(names, n)
		}
		slices.Sort(names)
		return Kind{}, fmt.Errorf("-sink %q: unknown sink (registered: %s)", sink, strings.Join(names, ", "))
	}
	return k, nil
}

// Open opens the sink a -sink value names for t.
func Open(ctx context.Context, sink string, t Target) (Sink, error) {
	k, err := Lookup(sink)
	if err != nil {
		return nil, err
	}
	_, t.Location = Split(sink)
	return k.Open(ctx, t)
}
