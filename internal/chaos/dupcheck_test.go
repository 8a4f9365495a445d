package chaos

import (
	"context"
	"testing"

	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// A table keyed by id cannot hold an id twice, so counting repeated ids in
// PostgreSQL finds nothing even when a record was written twice (two chunks
// holding the same id both count it written, one row remains). What can be
// wrong there is the count: each chunk's written + skipped records must be
// rows of that chunk's ids. Parquet parts have no key: there an id can be a
// row of two parts, and rows are counted per id across all parts.

// chunkCounts reads what the job recorded for each chunk
// (Store.ChunkResults, pipeline/jobstore/store.go).
func chunkCounts(ctx context.Context, j *job) (map[int]jobstore.ChunkResult, error) {
	return j.store.ChunkResults(ctx, j.name)
}

// countCheck compares the records each chunk counted written or skipped with
// the rows the sink holds of that chunk's ids, each row going to the first
// chunk that lists its id. chunks[k] lists chunk k's ids; chunks past the
// list (other input files) are compared together with the rows whose ids are
// in no listed chunk. over is records counted beyond the rows there are (an
// id written by two chunks, or counted and not written); under is rows no
// chunk counted (a chunk that reached the sink but not Redis).
func countCheck(chunks [][]string, counted map[int]jobstore.ChunkResult, rows map[string]int) (over, under int) {
	listed := map[string]bool{}
	compare := func(n int64, held int) {
		if d := int(n) - held; d > 0 {
			over += d
		} else {
			under -= d
		}
	}
	for k, ids := range chunks {
		held := 0
		for _, id := range ids {
			if !listed[id] {
				listed[id] = true
				held += rows[id]
			}
		}
		r := counted[k]
		compare(r.Written+r.Skipped, held)
	}
	var rest int64
	for k, r := range counted {
		if k >= len(chunks) {
			rest += r.Written + r.Skipped
		}
	}
	held := 0
	for id, n := range rows {
		if !listed[id] {
			held += n
		}
	}
	compare(rest, held)
	return over, under
}

// chunks lists the ids of each chunk the planner cuts the corpus
// into: chunkSize records in file order.
func (c corpus) chunks(chunkSize int) [][]string {
	var out [][]string
	for start := 0; start < len(c.ids); start += chunkSize {
		out = append(out, c.ids[start:min(start+chunkSize, len(c.ids))])
	}
	return out
}

// readParts reads every row of every part file of a Parquet job.
func readParts(t *testing.T, dir, jobID string) []sinks.Embedding {
	t.Helper()
	var rows []sinks.Embedding
	if err := parquet.ReadJob(dir, jobID, func(e sinks.Embedding) error {
		rows = append(rows, e)
		return nil
	}); err != nil {
		t.Fatalf("read parts: %v", err)
	}
	return rows
}

// repeated counts rows beyond the first of each id.
func repeated(rows map[string]int) int {
	n := 0
	for _, r := range rows {
		n += r - 1
	}
	return n
}
