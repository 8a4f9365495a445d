package chaos

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// TestCountCheck feeds the PostgreSQL check chunk counts that do and do not
// match the rows: an id two chunks both counted written is one row, and
// shows as an over-count.
func TestCountCheck(t *testing.T) {
	chunks := [][]string{{"a", "b"}, {"c", "d"}}
	rows := map[string]int{"a": 1, "b": 1, "c": 1, "d": 1, "x": 1}
	for _, tc := range []struct {
		name        string
		chunks      [][]string
		counted     map[int]jobstore.ChunkResult
		rows        map[string]int
		over, under int
	}{
		{"exact", chunks, map[int]jobstore.ChunkResult{0: {Written: 2}, 1: {Written: 1, Skipped: 1}, 2: {Written: 1}}, rows, 0, 0},
		{"a chunk counted twice its rows", chunks, map[int]jobstore.ChunkResult{0: {Written: 2}, 1: {Written: 2, Skipped: 2}, 2: {Written: 1}}, rows, 2, 0},
		{"an id in two chunks, one row", [][]string{{"a", "b"}, {"a", "c"}}, map[int]jobstore.ChunkResult{0: {Written: 2}, 1: {Written: 2}},
			map[string]int{"a": 1, "b": 1, "c": 1}, 1, 0},
		{"a failed record is no row", chunks, map[int]jobstore.ChunkResult{0: {Written: 1, Failed: 1}, 1: {Written: 2}, 2: {Written: 1}},
			map[string]int{"a": 1, "c": 1, "d": 1, "x": 1}, 0, 0},
		{"a row no chunk counted", chunks, map[int]jobstore.ChunkResult{0: {Written: 2}, 1: {Written: 1}, 2: {Written: 1}}, rows, 0, 1},
		{"another file over-counted", chunks, map[int]jobstore.ChunkResult{0: {Written: 2}, 1: {Written: 2}, 2: {Written: 1}, 3: {Written: 1}}, rows, 1, 0},
	} {
		over, under := countCheck(tc.chunks, tc.counted, tc.rows)
		if over != tc.over || under != tc.under {
			t.Errorf("%s: over %d, under %d; want %d, %d", tc.name, over, under, tc.over, tc.under)
		}
	}
}

// TestCheckPartsDuplicate writes two Parquet parts that share an id: the
// check counts it once as a duplicate, and a job without one as none.
func TestCheckPartsDuplicate(t *testing.T) {
	texts := map[string]string{"a": "in the beginning", "b": "and the earth", "c": "was without form"}
	row := func(id string) sinks.Embedding {
		return sinks.Embedding{ID: id, Float: coheretest.Embedding(model, inputType, texts[id], dims), Model: model, InputType: inputType, Fingerprint: "fp"}
	}
	for _, tc := range []struct {
		name  string
		parts [][]string
		dups  int
	}{
		{"distinct", [][]string{{"a", "b"}, {"c"}}, 0},
		{"an id in two parts", [][]string{{"a", "b"}, {"b", "c"}}, 1},
	} {
		dir := t.TempDir()
		w, err := parquet.New(parquet.Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		for n, ids := range tc.parts {
			c := &sinks.Chunk{Job: "dups", Number: n}
			for _, id := range ids {
				c.Rows = append(c.Rows, row(id))
			}
			if err := w.WriteChunk(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		}
		got := checkParts(t, dir, "dups", texts, []string{"a", "b", "c"})
		if got.duplicates != tc.dups || got.lost != 0 || got.wrong != 0 || got.unknown != 0 {
			t.Errorf("%s: %d duplicates, %d lost, %d wrong, %d unknown; want %d duplicates", tc.name, got.duplicates, got.lost, got.wrong, got.unknown, tc.dups)
		}
	}
}

// TestTripsHoldCalls checks that a call past a fault's moment waits until
// the fault has fired, and that the fault is announced once.
func TestTripsHoldCalls(t *testing.T) {
	tr := newTrips([]int64{2})
	call := func() <-chan struct{} {
		done := make(chan struct{})
		go func() {
			tr.hook(httptest.NewRequest("POST", "/v2/embed", nil), nil)
			close(done)
		}()
		return done
	}
	<-call()
	<-call() // the call at the moment itself goes on
	if i, ok := tr.next(context.Background()); !ok || i != 0 {
		t.Fatalf("next: %d, %v", i, ok)
	}
	held := call()
	select {
	case <-held:
		t.Fatal("a call past the fault's moment went on before the fault fired")
	case <-time.After(200 * time.Millisecond):
	}
	tr.fire(0)
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the held call did not go on after the fault fired")
	}
	tr.hook(httptest.NewRequest("GET", "/v1/models", nil), nil) // not an embed call: not counted
	if n := tr.calls.Load(); n != 3 {
		t.Errorf("%d embed calls counted, want 3", n)
	}
}
