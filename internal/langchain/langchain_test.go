package langchain

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/jackc/pgx/v5"
	pgv "github.com/pgvector/pgvector-go"
)

const model = "embed-english-v3.0"

// verses are the passages in the table, each with its id and metadata.
var verses = []struct{ id, book, text string }{
	{"John 3:16", "John", "For God so loved the world, that he gave his only begotten Son, that whosoever believeth in him should not perish, but have everlasting life."},
	{"John 11:35", "John", "Jesus wept."},
	{"Matthew 5:44", "Matthew", "But I say unto you, Love your enemies, bless them that curse you, do good to them that hate you, and pray for them which despitefully use you, and persecute you;"},
	{"Proverbs 15:1", "Proverbs", "A soft answer turneth away wrath: but grievous words stir up anger."},
	{"Proverbs 3:5", "Proverbs", "Trust in the LORD with all thine heart; and lean not unto thine own understanding."},
	{"Luke 2:14", "Luke", "Glory to God in the highest, and on earth peace, good will toward men."},
	{"Mark 12:31", "Mark", "And the second is like, namely this, Thou shalt love thy neighbour as thyself. There is none other commandment greater than these."},
	{"John 1:1", "John", "In the beginning was the Word, and the Word was with God, and the Word was God."},
}

type hit struct {
	ID       string         `json:"id"`
	Content  string         `json:"content"`
	Metadata map[string]any `json:"metadata"`
	Score    float64        `json:"score"`
}

func TestPGVectorStoreReadsTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, "../../scripts/npm-ci.sh", ".")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("scripts/npm-ci.sh: %v\n%s", err, out)
	}

	dbURL := testenv.DatabaseURL(t)
	schema := testenv.Schema(dbURL)
	fake := coheretest.NewServer()
	defer fake.Close()
	enqueue(ctx, t, dbURL, fake.URL)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM kjv WHERE text IS NOT NULL").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(verses) {
		t.Fatalf("cobatch wrote %d rows with text, want %d", rows, len(verses))
	}

	for _, target := range []int{0, 2, 4} {
		q := coheretest.Embedding(model, "search_query", verses[target].text, 1024)
		hits := query(ctx, t, dbURL, schema, q, 3)
		if len(hits) != 3 {
			t.Fatalf("query for %s: %d hits, want 3: %+v", verses[target].id, len(hits), hits)
		}
		first := hits[0]
		if first.ID != verses[target].id || first.Content != verses[target].text || first.Metadata["book"] != verses[target].book {
			t.Fatalf("query for %s: first hit %+v", verses[target].id, first)
		}
		// The order is the database's own cosine order.
		rows, err := conn.Query(ctx, `SELECT id FROM kjv ORDER BY embedding <=> $1 LIMIT 3`, pgv.NewVector(q))
		if err != nil {
			t.Fatal(err)
		}
		want, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		got := []string{hits[0].ID, hits[1].ID, hits[2].ID}
		if !slices.Equal(got, want) {
			t.Fatalf("query for %s: LangChain order %q, SQL order %q", verses[target].id, got, want)
		}
		if !(hits[0].Score <= hits[1].Score && hits[1].Score <= hits[2].Score) {
			t.Fatalf("query for %s: distances not ascending: %+v", verses[target].id, hits)
		}
	}
}

// enqueue writes the verses into kjv with the real enqueue binary
// (-store-text, the book and the verse's number as metadata), embedded by the
// fake API, whose vectors coheretest.Embedding gives.
func enqueue(ctx context.Context, t *testing.T, dbURL, apiURL string) {
	t.Helper()
	dir := t.TempDir()
	var in bytes.Buffer
	for i, v := range verses {
		line, err := json.Marshal(map[string]any{"id": v.id, "text": v.text, "book": v.book, "n": i})
		if err != nil {
			t.Fatal(err)
		}
		in.Write(append(line, '\n'))
	}
	path := filepath.Join(dir, "kjv.jsonl")
	if err := os.WriteFile(path, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "enqueue")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/enqueue").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, bin, "-in", path, "-model", model, "-sink", "postgres", "-table", "kjv",
		"-store-text", "-meta-fields", "book,n", "-job", "kjv")
	cmd.Env = append(cmd.Environ(), "DATABASE_URL="+dbURL, "COHERE_BASE_URL="+apiURL,
		"COHERE_API_KEY="+coheretest.DefaultAPIKey, "REDIS_URL=") // embedded mode: the binary runs the job itself
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("enqueue: %v\n%s", err, out)
	}
}

// query runs query.mjs for vector q against schema.kjv and returns its hits.
func query(ctx context.Context, t *testing.T, dbURL, schema string, q []float32, k int) []hit {
	t.Helper()
	vec, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "node", "query.mjs", "--schema", schema, "--table", "kjv", "--k", strconv.Itoa(k))
	cmd.Env = append(cmd.Environ(), "DATABASE_URL="+withoutSearchPath(t, dbURL))
	cmd.Stdin = bytes.NewReader(vec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node query.mjs: %v\n%s", err, stderr.String())
	}
	var hits []hit
	if err := json.Unmarshal(out, &hits); err != nil {
		t.Fatalf("query.mjs output %q: %v", out, err)
	}
	return hits
}

// withoutSearchPath drops the search_path parameter, which node's pg does
// not read; the script names the schema itself.
func withoutSearchPath(t *testing.T, dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return strings.TrimSuffix(u.String(), "?")
}
