package pgvector_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/pgvector"
)

// open opens a Writer on cfg, on a schema of the test's own unless cfg.URL is
// set, and closes it when the test ends.
func open(t testing.TB, cfg pgvector.Config) *pgvector.Writer {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = testenv.DatabaseURL(t)
	}
	w, err := pgvector.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// vector returns a deterministic pseudo-random vector for id.
func vector(id string, d int, salt uint64) []float32 {
	h := fnv.New64a()
	h.Write([]byte(id))
	r := rand.New(rand.NewPCG(h.Sum64(), salt))
	v := make([]float32, d)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

// row builds the record for id; salt varies the vector as a new model would.
func row(id string, d int, salt uint64) sinks.Embedding {
	v := vector(id, d, salt)
	e := sinks.Embedding{
		ID:            id,
		Float:         v,
		Int8:          make([]int8, d),
		Uint8:         make([]uint8, d),
		Binary:        make([]byte, d/8),
		Model:         "embed-v4.0",
		InputType:     "search_document",
		Fingerprint:   "fp-1",
		ContentSHA256: sha256.Sum256([]byte("text of " + id)),
		Metadata:      json.RawMessage(fmt.Sprintf(`{"id": %q}`, id)),
		EmbeddedAt:    time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	for i, x := range v {
		e.Int8[i] = int8(x * 127)
		e.Uint8[i] = uint8((x + 1) * 127)
		if x > 0 {
			e.Binary[i/8] |= 0x80 >> (i % 8)
		}
	}
	return e
}

func rows(prefix string, from, n, d int, salt uint64) []sinks.Embedding {
	out := make([]sinks.Embedding, n)
	for i := range out {
		out[i] = row(fmt.Sprintf("%s-%06d", prefix, from+i), d, salt)
	}
	return out
}

func count(t testing.TB, c *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// xmins maps each id of table to the transaction that last wrote it.
func xmins(t testing.TB, c *pgx.Conn, table string) map[string]string {
	t.Helper()
	rs, err := c.Query(context.Background(), "SELECT id, xmin::text FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for rs.Next() {
		var id, x string
		if err := rs.Scan(&id, &x); err != nil {
			t.Fatal(err)
		}
		m[id] = x
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

type chunkRow struct{ written, skipped, failed int }

func chunkRows(t testing.TB, c *pgx.Conn, job string) map[int]chunkRow {
	t.Helper()
	rs, err := c.Query(context.Background(), "SELECT chunk, written, skipped, failed FROM cobatch_chunks WHERE job = $1", job)
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]chunkRow{}
	for rs.Next() {
		var n int
		var r chunkRow
		if err := rs.Scan(&n, &r.written, &r.skipped, &r.failed); err != nil {
			t.Fatal(err)
		}
		m[n] = r
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}
