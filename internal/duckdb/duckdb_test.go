package duckdb

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/pipeline/passage"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

const model = "embed-english-v3.0"

// row has the columns of an embedding part that sinks/parquet writes (see
// sinks/parquet/embedding_struct.go), plus those that -split and -store-text
// add: text, doc_id, chunk_index, char_start and char_end.
type row struct {
	ID            string    `parquet:"id"`
	Embedding     []float32 `parquet:"embedding,list"`
	Model         string    `parquet:"model,dict"`
	InputType     string    `parquet:"input_type,dict"`
	Fingerprint   string    `parquet:"fingerprint,dict"`
	ContentSHA256 string    `parquet:"content_sha256"`
	Metadata      string    `parquet:"metadata,optional"`
	EmbeddedAt    int64     `parquet:"embedded_at,timestamp(microsecond)"`
	Text          string    `parquet:"text"`
	DocID         string    `parquet:"doc_id"`
	ChunkIndex    int32     `parquet:"chunk_index"`
	CharStart     int32     `parquet:"char_start"`
	CharEnd       int32     `parquet:"char_end"`
}

// docs are two short documents, each cut into several passages.
var docs = []struct{ id, text string }{
	{"John 1", "In the beginning was the Word, and the Word was with God, and the Word was God. The same was in the beginning with God. All things were made by him; and without him was not any thing made that was made. In him was life; and the life was the light of men."},
	{"Psalms 23", "The LORD is my shepherd; I shall not want. He maketh me to lie down in green pastures: he leadeth me beside the still waters. He restoreth my soul: he leadeth me in the paths of righteousness for his name's sake."},
}

func writePart(t *testing.T, path string, rows []row) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[row](f, parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDuckDBReadsParts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, "../../scripts/npm-ci.sh", ".")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("scripts/npm-ci.sh: %v\n%s", err, out)
	}

	dir := t.TempDir()
	spec := passage.Spec{Mode: passage.SplitTokens, MaxTokens: 96, Overlap: 16}
	at := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC).UnixMicro()
	var all []row
	for i, d := range docs {
		var rows []row
		for _, p := range spec.Split(d.text) {
			rows = append(rows, row{
				ID: passage.ID(d.id, p.Index), Embedding: coheretest.Embedding(model, "search_document", p.Text, 1024),
				Model: model, InputType: "search_document", Fingerprint: "f", ContentSHA256: "h",
				Metadata: fmt.Sprintf(`{"doc":%q}`, d.id), EmbeddedAt: at,
				Text: p.Text, DocID: d.id, ChunkIndex: int32(p.Index), CharStart: int32(p.CharStart), CharEnd: int32(p.CharEnd),
			})
		}
		if len(rows) < 3 {
			t.Fatalf("%s: %d passages, want several", d.id, len(rows))
		}
		writePart(t, filepath.Join(dir, "nightly", fmt.Sprintf("part-%06d.parquet", i)), rows)
		all = append(all, rows...)
	}

	// Every passage, as written.
	var got []struct {
		ID         string `json:"id"`
		DocID      string `json:"doc_id"`
		ChunkIndex int    `json:"chunk_index"`
		CharStart  int    `json:"char_start"`
		CharEnd    int    `json:"char_end"`
		Text       string `json:"text"`
		Dims       int    `json:"dims"`
		EmbeddedAt string `json:"embedded_at"`
	}
	query(ctx, t, dir, `SELECT id, doc_id, chunk_index, char_start, char_end, text, len(embedding)::INTEGER AS dims, embedded_at
		FROM parts ORDER BY doc_id, chunk_index`, &got)
	if len(got) != len(all) {
		t.Fatalf("DuckDB read %d rows, wrote %d", len(got), len(all))
	}
	slices.SortFunc(all, func(a, b row) int {
		return cmp.Or(strings.Compare(a.DocID, b.DocID), cmp.Compare(a.ChunkIndex, b.ChunkIndex))
	})
	for i, g := range got {
		w := all[i]
		if g.ID != w.ID || g.DocID != w.DocID || g.ChunkIndex != int(w.ChunkIndex) || g.CharStart != int(w.CharStart) ||
			g.CharEnd != int(w.CharEnd) || g.Text != w.Text || g.Dims != 1024 || g.EmbeddedAt != "2026-12-01 02:00:00+00" {
			t.Fatalf("row %d: DuckDB read %+v, wrote %s [%d,%d) %q", i, g, w.ID, w.CharStart, w.CharEnd, w.Text)
		}
	}

	// The nearest passage to a query, by DuckDB's own cosine.
	target := all[len(all)-1]
	q := coheretest.Embedding(model, "search_query", target.Text, 1024)
	vec, _ := json.Marshal(q)
	var nearest []struct {
		ID string `json:"id"`
	}
	query(ctx, t, dir, fmt.Sprintf(`SELECT id FROM parts
		ORDER BY list_cosine_similarity(embedding, %s::FLOAT[]) DESC LIMIT 1`, vec), &nearest)
	if len(nearest) != 1 || nearest[0].ID != target.ID {
		t.Fatalf("nearest to %s: %+v", target.ID, nearest)
	}
}

// query runs query.mjs over dir and decodes its rows into out.
func query(ctx context.Context, t *testing.T, dir, sql string, out any) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", "query.mjs", "--dir", dir, "--sql", sql)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node query.mjs: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("query.mjs output %.500q: %v", b, err)
	}
}
