package sinks

import "context"

// Passage is what an embed row carries of the text it embeds: the text
// itself (-store-text) and, for a document split into passages (-split),
// the document and the place in it. The zero Passage carries nothing.
type Passage struct {
	Text string // the embedded text; empty unless the job stores text
	// DocID is the document's id when the row is one of its passages (the
	// row's ID is then DocID#NNNN, pipeline/passage.ID); empty otherwise.
	DocID      string
	ChunkIndex int // the passage's index in its document, from 0
	// CharStart and CharEnd are the passage's half-open offsets in the
	// document, in Unicode code points.
	CharStart, CharEnd int
}

// Corpus says which passage columns the rows of an embed job carry.
type Corpus struct {
	Text     bool `json:"text,omitempty"`     // a text column (-store-text)
	Passages bool `json:"passages,omitempty"` // doc_id, chunk_index, char_start, char_end (-split)
}

// Pruner is a sink that can delete the rows a job's input no longer holds
// (-prune). The job calls it once, after its last chunk is written and
// before Finish, never after an aborted or cancelled run.
type Pruner interface {
	// Prune deletes (or with dryRun only lists) the rows whose ids are
	// neither an id job wrote, kept or dead-lettered, nor a passage of one
	// of those documents, in one transaction, and returns their ids.
	Prune(ctx context.Context, job string, dryRun bool) ([]string, error)
}
