package sinks

import (
	"encoding/json"
	"time"
)

// Embedding is one embedded record: the row an embed job writes.
// Only the vector fields the job asked for are set.
type Embedding struct {
	ID string

	Float  []float32 // "float" embeddings
	Int8   []int8    // "int8" embeddings
	Uint8  []uint8   // "uint8" embeddings
	Binary []byte    // "binary" or "ubinary": bit-packed, dims/8 bytes, most significant bit first

	Model     string
	InputType string
	// Fingerprint identifies everything besides the text that determines the
	// vector (model, input type, dimensions, embedding types). A stored row
	// with the same ContentSHA256 and Fingerprint need not be embedded again.
	Fingerprint   string
	ContentSHA256 [32]byte
	Metadata      json.RawMessage // a JSON object, or nil
	EmbeddedAt    time.Time

	Passage // the embedded text and where it came from (-store-text, -split)
}

// Classification is one classified record: the row a classify job writes.
type Classification struct {
	ID    string
	Label string // the predicted label
	// Confidence is the predicted label's confidence; nil where the API
	// gives none (the chat route), written as NULL.
	Confidence *float32
	// Labels holds every label's confidence, the predicted one included.
	Labels map[string]float32
	// Route is how the label was found: classify, embed or chat (empty:
	// classify, as before routes).
	Route string
	// LabelsPredicted are the labels of a multi-label job (nil otherwise).
	LabelsPredicted []string

	Model string
	// Fingerprint identifies what besides the text decides the verdict
	// (model, examples, truncate), as Embedding.Fingerprint does.
	Fingerprint   string
	ContentSHA256 [32]byte
	Metadata      json.RawMessage // a JSON object, or nil
	ClassifiedAt  time.Time
}

// RerankResult is one document's place in a query's ranking: the row a
// rerank job writes. A query's rows have ranks 1..N by descending score.
type RerankResult struct {
	QueryID string
	Rank    int
	// DocID is the document's id, or its index as text when the query's
	// documents carry no id.
	DocID          string
	DocIndex       int // position of the document in the query's list
	RelevanceScore float64
	Model          string
	ScoredAt       time.Time
}

// Failure is a dead-lettered record: it was read (or meant to be) but could not
// be processed. File and Line locate it in the input (Line is the 1-based line
// for line formats, the 0-based row for Parquet).
type Failure struct {
	File   string `json:"file"`
	Line   int64  `json:"line"`
	ID     string `json:"id,omitempty"`
	Reason string `json:"reason"`
}

// Chunk is the result of processing one chunk task.
type Chunk struct {
	Job    string
	Number int

	Rows   []Embedding // records embedded by this run of the chunk
	Kept   []string    // ids skipped as unchanged: the sink already holds them
	Failed []Failure   // records dead-lettered by this run of the chunk

	// A classify or rerank chunk carries its rows here instead of Rows, as a
	// non-nil slice even when empty: that is how a sink tells the chunk's
	// kind when every record was kept or failed. A chunk carries one kind.
	Classifications []Classification
	Reranks         []RerankResult
	Chats           []ChatResult
	// Declared carries the rows of a kind the job's operation declared
	// (Target.RowKind), non-nil as above.
	Declared []Row
}

// Key is what a sink compares to decide that a record is unchanged.
type Key struct {
	ID            string
	ContentSHA256 [32]byte
	Fingerprint   string
}

// Summary is the outcome of a whole job, handed to a sink when the job ends.
type Summary struct {
	Job         string
	Model       string
	Fingerprint string
	Written     int64
	Skipped     int64
	Failed      int64
	Total       int64
	Chunks      int
	// AllChunks: this run's chunks are exactly 0 to Chunks-1, so whatever a
	// sink holds for another chunk is an earlier run's (a longer input) and
	// goes.
	AllChunks bool
	TokensIn  int64
	Truncated int64 // texts longer than the model reads, embedded cut short
	// Pruned are the ids (-prune) deleted because this run's input no
	// longer holds them.
	Pruned     []string
	StartedAt  time.Time
	FinishedAt time.Time
}
