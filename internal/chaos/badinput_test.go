package chaos

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// badInputs writes one broken file of each kind next to the corpus. Each
// costs exactly its broken records (one dead letter each), never the rest
// of the file or the job:
//   - a truncated gzip: every record it still decodes is written, its tail
//     is one dead letter naming the file and the line after the last one;
//   - a Parquet file with a broken footer: one dead letter for the file;
//   - JSONL with two invalid UTF-8 lines: two dead letters;
//   - JSONL with a 50 MB line: one dead letter;
//   - CSV with an unbalanced quote: one dead letter.
func badInputs(t *testing.T, dir string) (extra, optional, dead map[string]string, records int) {
	extra, optional, dead = map[string]string{}, map[string]string{}, map[string]string{}

	// Truncated gzip: the records wholly before the cut are readable.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for i := range 2000 {
		fmt.Fprintf(zw, "{\"id\":\"gz-%d\",\"text\":\"compressed record %d of a stream cut in half\"}\n", i, i)
	}
	zw.Close()
	cut := gz.Bytes()[:gz.Len()/2]
	writeFile(t, dir, "a-truncated.jsonl.gz", cut)
	readable := readableLines(cut)
	for i := range readable {
		extra[fmt.Sprintf("gz-%d", i)] = fmt.Sprintf("compressed record %d of a stream cut in half", i)
	}
	dead[fmt.Sprintf("a-truncated.jsonl.gz:%d:", readable+1)] = "unexpected EOF"
	records += readable + 1

	// Parquet with its footer cut off.
	var pq bytes.Buffer
	type row struct {
		ID   string `parquet:"id"`
		Text string `parquet:"text"`
	}
	pw := parquet.NewGenericWriter[row](&pq)
	rows := make([]row, 300)
	for i := range rows {
		rows[i] = row{fmt.Sprintf("pq-%d", i), fmt.Sprintf("columnar record %d", i)}
	}
	if _, err := pw.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "b-corrupt.parquet", pq.Bytes()[:pq.Len()-12])
	dead["b-corrupt.parquet:0:"] = "corrupt"
	records++

	// Invalid UTF-8 on lines 10 and 50.
	var u bytes.Buffer
	for i := 1; i <= 100; i++ {
		if i == 10 || i == 50 {
			fmt.Fprintf(&u, "{\"id\":\"utf-%d\",\"text\":\"bad \xff\xfe bytes %d\"}\n", i, i)
			dead[fmt.Sprintf("c-utf8.jsonl:%d:utf-%d", i, i)] = "UTF-8"
			continue
		}
		fmt.Fprintf(&u, "{\"id\":\"utf-%d\",\"text\":\"valid line %d\"}\n", i, i)
		extra[fmt.Sprintf("utf-%d", i)] = fmt.Sprintf("valid line %d", i)
	}
	writeFile(t, dir, "c-utf8.jsonl", u.Bytes())
	records += 100

	// A 50 MB line between two good ones, streamed to disk.
	f, err := os.Create(filepath.Join(dir, "d-huge.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, `{"id":"huge-1","text":"before the giant"}`)
	fmt.Fprint(w, `{"id":"huge-2","text":"`)
	w.WriteString(strings.Repeat("giant ", 50<<20/6))
	fmt.Fprintln(w, `"}`)
	fmt.Fprintln(w, `{"id":"huge-3","text":"after the giant"}`)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	extra["huge-1"], extra["huge-3"] = "before the giant", "after the giant"
	dead["d-huge.jsonl:2:"] = "exceeds"
	records += 3

	// CSV whose row 20 opens a quote it never closes.
	var cs strings.Builder
	cs.WriteString("id,text\n")
	for i := 1; i <= 50; i++ {
		if i == 20 {
			fmt.Fprintf(&cs, "csv-%d,\"an unbalanced quote %d\n", i, i)
			dead[fmt.Sprintf("e-quotes.csv:%d:", i+1)] = ""
			continue
		}
		fmt.Fprintf(&cs, "csv-%d,plain row %d\n", i, i)
		extra[fmt.Sprintf("csv-%d", i)] = fmt.Sprintf("plain row %d", i)
	}
	writeFile(t, dir, "e-quotes.csv", []byte(cs.String()))
	records += 50
	return extra, optional, dead, records
}

// readableLines counts the complete lines a truncated gzip stream yields.
func readableLines(b []byte) int {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return 0
	}
	data, _ := io.ReadAll(zr)
	return bytes.Count(data, []byte("\n"))
}
