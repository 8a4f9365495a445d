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
	TokensIn    int64
	StartedAt   time.Time
	FinishedAt  time.Time
}
