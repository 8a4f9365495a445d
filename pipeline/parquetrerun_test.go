package pipeline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// A job re-run on an input that shrank leaves, in its directory and its
// manifest, exactly this run's parts: no row of the longer input is left.
func TestParquetRerunDropsStaleParts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers(2)
	path, texts := writeCorpus(t, 1000, corpusText)
	spec := h.spec("shrink", path)
	spec.ChunkSize = 100
	st := h.run(spec)
	if st.State != jobstore.StateDone || st.Written != 1000 {
		t.Fatalf("first run: status %s written %d (%s)", st.State, st.Written, st.Reason)
	}
	checkParquet(t, h.out, spec, texts)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The first 250 lines: three chunks instead of ten.
	n, cut := 0, 0
	for cut < len(data) && n < 250 {
		if data[cut] == '\n' {
			n++
		}
		cut++
	}
	if err := os.WriteFile(path, data[:cut], 0o644); err != nil {
		t.Fatal(err)
	}
	kept := map[string]string{}
	for i := range 250 {
		id := fmt.Sprintf("doc-%05d", i)
		kept[id] = texts[id]
	}
	st = h.run(spec)
	if st.State != jobstore.StateDone || st.Skipped != 250 || st.Written != 0 || st.Total() != 250 {
		t.Fatalf("second run: status %s written %d skipped %d total %d", st.State, st.Written, st.Skipped, st.Total())
	}
	checkParquet(t, h.out, spec, kept)
	m, err := parquet.ReadManifest(h.out, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, p := range m.Parts {
		files = append(files, p.File)
	}
	want := []string{"part-000000.parquet", "part-000001.parquet", "part-000002.parquet"}
	if !slices.Equal(files, want) || m.Counts.Rows != 250 || m.Chunks != 3 {
		t.Fatalf("manifest: parts %v, rows %d, chunks %d; want %v, 250 rows, 3 chunks", files, m.Counts.Rows, m.Chunks, want)
	}
	entries, err := os.ReadDir(filepath.Join(h.out, spec.ID))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".parquet" {
			onDisk = append(onDisk, e.Name())
		}
	}
	if !slices.Equal(onDisk, want) {
		t.Fatalf("job directory holds %v, want %v", onDisk, want)
	}
}
