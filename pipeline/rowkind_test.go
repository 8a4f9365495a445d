package pipeline_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// This file is a whole operation that no other file knows of: its
// registration, its row kind and its Process, written as a new operation
// would be (pipeline.Op). It tokenizes each record's text (/v1/tokenize).

const opTokens = "tokens-test"

// tokensKind is the operation's row, a column of every type a kind may
// declare.
var tokensKind = &sinks.RowKind{Name: "tokens", Columns: []sinks.Column{
	{Name: "tokens", Type: sinks.TypeInt},
	{Name: "first_piece", Type: sinks.TypeText},
	{Name: "pieces", Type: sinks.TypeJSON},
	{Name: "piece_bytes", Type: sinks.TypeVector},
	{Name: "bytes_per_token", Type: sinks.TypeFloat},
	{Name: "even", Type: sinks.TypeBool},
	{Name: "tokenized_at", Type: sinks.TypeTime},
}}

// maxTokenizeChars is the longest text /v1/tokenize takes: a longer record
// is dead-lettered without a call.
const maxTokenizeChars = 65536

// tokenizer is the call the operation makes (cohere.Client has it).
type tokenizer interface {
	Tokenize(ctx context.Context, req *cohere.TokenizeRequest) (*cohere.TokenizeResponse, error)
}

func init() {
	pipeline.RegisterOp(pipeline.Op{
		Name: opTokens,
		Defaults: func(s pipeline.Spec) pipeline.Spec {
			if s.Model == "" {
				s.Model = "command"
			}
			if s.ChunkSize <= 0 {
				s.ChunkSize = 100
			}
			return s
		},
		Validate: func(s pipeline.Spec) []error {
			var errs []error
			if s.Index != nil {
				errs = append(errs, errors.New("-index: token counts have no vectors to index"))
			}
			if s.Async != "" && s.Async != pipeline.AsyncOff && s.Async != pipeline.AsyncAuto {
				errs = append(errs, fmt.Errorf("-async %s: %s has no async route", s.Async, opTokens))
			}
			return errs
		},
		Fingerprint:    func(s pipeline.Spec) string { return opTokens + "|" + s.Model },
		Price:          func(string) float64 { return 0 }, // tokenize is not billed
		RecordsPerCall: 1,
		RowKind:        tokensKind,
		Process:        processTokens,
	})
}

// processTokens tokenizes each record of a chunk the sink does not hold
// unchanged, one call per record.
func processTokens(ctx context.Context, d *pipeline.Deps, c pipeline.Chunk) (*sinks.Chunk, error) {
	spec := c.Spec
	out := &sinks.Chunk{Job: c.Job, Number: c.Chunk, Declared: []sinks.Row{}}
	recs, err := d.Records(ctx, c, out)
	if err != nil {
		return nil, err
	}
	client, ok := d.Embedder.(tokenizer)
	if !ok {
		return nil, errors.New("the worker's client cannot tokenize")
	}
	fp, now := spec.Fingerprint(), time.Now().UTC()
	for _, r := range recs {
		if n := utf8.RuneCountInString(r.Text); n > maxTokenizeChars {
			out.Failed = append(out.Failed, r.Failure(fmt.Sprintf("text of %d characters: tokenize takes at most %d", n, maxTokenizeChars)))
			continue
		}
		var res *cohere.TokenizeResponse
		err := d.Call(ctx, spec.ID, "tokenize", 1, func(ctx context.Context) (map[string]int64, error) {
			var err error
			res, err = client.Tokenize(ctx, &cohere.TokenizeRequest{Text: r.Text, Model: spec.Model})
			return nil, err
		})
		if err != nil {
			return nil, err
		}
		pieces, err := json.Marshal(res.TokenStrings)
		if err != nil {
			return nil, err
		}
		sizes := make([]float32, len(res.TokenStrings))
		for i, s := range res.TokenStrings {
			sizes[i] = float32(len(s))
		}
		var first any
		if len(res.TokenStrings) > 0 {
			first = res.TokenStrings[0]
		}
		n := len(res.Tokens)
		out.Declared = append(out.Declared, sinks.Row{ID: r.ID, ContentSHA256: r.ContentSHA256, Fingerprint: fp, Values: []any{
			int64(n), first, json.RawMessage(pieces), sizes, float64(len(r.Text)) / float64(n), n%2 == 0, now,
		}})
	}
	return out, nil
}

// The test of the operation: a job into each sink, record by record.

// tokensCorpus writes n records, then a record too long to tokenize and,
// next to doc-0003 (so in its chunk), a second record with its id; it
// returns the path and the texts of the records to be stored by id.
func tokensCorpus(t *testing.T, path string, n int, text func(i int) string) map[string]string {
	t.Helper()
	var b strings.Builder
	texts := map[string]string{}
	line := func(id, text string) {
		l, _ := json.Marshal(map[string]string{"id": id, "text": text})
		b.Write(append(l, '\n'))
	}
	for i := range n {
		id := fmt.Sprintf("doc-%04d", i)
		texts[id] = text(i)
		line(id, texts[id])
		if i == 3 {
			line(id, "a second record with the same id")
		}
	}
	line("long", strings.Repeat("word ", maxTokenizeChars/5+1))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return texts
}

// storedTokens reads the job's rows from its sink, failing on an id stored
// twice.
func storedTokens(t *testing.T, h *harness, spec pipeline.Spec) map[string]sinks.Row {
	t.Helper()
	got := map[string]sinks.Row{}
	add := func(r sinks.Row) error {
		if _, dup := got[r.ID]; dup {
			return fmt.Errorf("%s stored twice", r.ID)
		}
		got[r.ID] = r
		return nil
	}
	if spec.Sink != "postgres" {
		if err := parquet.ReadRows(h.out, spec.ID, tokensKind, add); err != nil {
			t.Fatal(err)
		}
		return got
	}
	rows, err := connect(t, h.dbURL).Query(context.Background(), `SELECT id, tokens, first_piece, pieces, piece_bytes,
		bytes_per_token, even, tokenized_at, fingerprint, content_sha256 FROM `+spec.Table)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r sinks.Row
		var tokens int64
		var first string
		var pieces, sha []byte
		var sizes []float32
		var perToken float64
		var even bool
		var at time.Time
		if err := rows.Scan(&r.ID, &tokens, &first, &pieces, &sizes, &perToken, &even, &at, &r.Fingerprint, &sha); err != nil {
			t.Fatal(err)
		}
		copy(r.ContentSHA256[:], sha)
		r.Values = []any{tokens, first, json.RawMessage(pieces), sizes, perToken, even, at.UTC()}
		if err := add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// checkTokens holds every stored row against what a fake of its own
// returns for the record's text: each record once, every value the reply's.
// The rows of changed were tokenized between from and to.
func checkTokens(t *testing.T, got map[string]sinks.Row, spec pipeline.Spec, texts map[string]string, from, to time.Time) {
	t.Helper()
	ref := coheretest.NewServer()
	defer ref.Close()
	client, err := cohere.New(cohere.Config{BaseURL: ref.URL, APIKey: coheretest.DefaultAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(texts) {
		t.Errorf("sink holds %d records, want %d", len(got), len(texts))
	}
	for id, text := range texts {
		r, ok := got[id]
		if !ok {
			t.Errorf("%s not stored", id)
			continue
		}
		res, err := client.Tokenize(context.Background(), &cohere.TokenizeRequest{Text: text, Model: spec.Model})
		if err != nil {
			t.Fatal(err)
		}
		sizes := make([]float32, len(res.TokenStrings))
		for i, s := range res.TokenStrings {
			sizes[i] = float32(len(s))
		}
		var pieces []string
		if err := json.Unmarshal(r.Values[2].(json.RawMessage), &pieces); err != nil {
			t.Fatalf("%s: pieces: %v", id, err)
		}
		n := len(res.Tokens)
		at := r.Values[6].(time.Time)
		switch {
		case r.Fingerprint != spec.Fingerprint() || r.ContentSHA256 != sha256.Sum256([]byte(text)):
			t.Errorf("%s: fingerprint %q hash %x, want %q and its text's", id, r.Fingerprint, r.ContentSHA256, spec.Fingerprint())
		case r.Values[0] != int64(n) || r.Values[1] != res.TokenStrings[0] || !slices.Equal(pieces, res.TokenStrings):
			t.Errorf("%s: tokens %v first %q pieces %q, want %d %q %q", id, r.Values[0], r.Values[1], pieces, n, res.TokenStrings[0], res.TokenStrings)
		case !slices.Equal(r.Values[3].([]float32), sizes):
			t.Errorf("%s: piece_bytes %v, want %v", id, r.Values[3], sizes)
		case r.Values[4] != float64(len(text))/float64(n) || r.Values[5] != (n%2 == 0):
			t.Errorf("%s: bytes_per_token %v even %v, want %v %v", id, r.Values[4], r.Values[5], float64(len(text))/float64(n), n%2 == 0)
		case at.Before(from.Truncate(time.Microsecond)) || at.After(to):
			t.Errorf("%s: tokenized_at %v, not between %v and %v", id, at, from, to)
		}
	}
}

func tokenizeCalls(h *harness) int { return h.fake.Stats().Calls["POST /v1/tokenize"] }

// TestDeclaredOpEndToEnd runs the operation of this file through the queue
// into each sink: every record once with the fake's tokens, the two bad
// records dead-lettered in the job store, the sink and its summary; a
// re-run makes no call; a changed record alone is tokenized again.
func TestDeclaredOpEndToEnd(t *testing.T) {
	t.Parallel()
	for _, sinkName := range []string{"parquet", "postgres"} {
		t.Run(sinkName, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h := newHarness(t)
			h.limits = map[string]ratelimit.Limit{"tokenize": {Count: 1_000_000, Per: time.Minute}}
			if sinkName == "postgres" {
				h.dbURL = testenv.DatabaseURL(t)
			}
			h.startWorkers(4)
			const n = 120
			path := filepath.Join(t.TempDir(), "records.jsonl")
			texts := tokensCorpus(t, path, n, corpusText)
			spec := pipeline.Spec{ID: "tokens-" + sinkName, Op: opTokens, Inputs: []string{path}, ChunkSize: 25, Sink: "parquet:" + h.out}
			if sinkName == "postgres" {
				spec.Sink, spec.Table = "postgres", "token_counts"
			}
			spec = spec.WithDefaults()
			if err := spec.Validate(); err != nil {
				t.Fatal(err)
			}
			from := time.Now()
			st := h.run(spec)
			if st.State != jobstore.StateDone || st.Written != n || st.Skipped != 0 || st.Failed != 2 {
				t.Fatalf("status %s written %d skipped %d failed %d (%s)", st.State, st.Written, st.Skipped, st.Failed, st.Reason)
			}
			if calls := tokenizeCalls(h); calls != n {
				t.Errorf("%d tokenize calls, want %d", calls, n)
			}
			checkTokens(t, storedTokens(t, h, spec), spec, texts, from, time.Now())
			dead, err := h.store.DeadLetters(ctx, spec.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, f := range dead {
				reasons = append(reasons, f.ID+": "+f.Reason)
			}
			slices.Sort(reasons)
			if len(reasons) != 2 || !strings.HasPrefix(reasons[0], `doc-0003: duplicate id "doc-0003"`) ||
				!strings.HasPrefix(reasons[1], "long: text of 65540 characters") {
				t.Errorf("dead letters %q, want doc-0003's second record and the long one", reasons)
			}
			checkSummary(t, h, spec, n, 2)

			// The same job again: every record is in the sink unchanged.
			h.fake.ResetStats()
			st = h.run(spec)
			if st.State != jobstore.StateDone || st.Written != 0 || st.Skipped != n || st.Failed != 2 {
				t.Fatalf("re-run: status %s written %d skipped %d failed %d (%s)", st.State, st.Written, st.Skipped, st.Failed, st.Reason)
			}
			if calls := tokenizeCalls(h); calls != 0 {
				t.Errorf("re-run made %d tokenize calls, want 0", calls)
			}
			checkTokens(t, storedTokens(t, h, spec), spec, texts, from, time.Now())

			// One record changed: it alone is tokenized again, the rest of
			// its chunk kept.
			h.fake.ResetStats()
			changed := corpusText(7) + " and more"
			texts = tokensCorpus(t, path, n, func(i int) string {
				if i == 7 {
					return changed
				}
				return corpusText(i)
			})
			from = time.Now()
			st = h.run(spec)
			if st.State != jobstore.StateDone || st.Written != 1 || st.Skipped != n-1 || st.Failed != 2 {
				t.Fatalf("changed run: status %s written %d skipped %d failed %d (%s)", st.State, st.Written, st.Skipped, st.Failed, st.Reason)
			}
			if calls := tokenizeCalls(h); calls != 1 {
				t.Errorf("changed run made %d tokenize calls, want 1", calls)
			}
			got := storedTokens(t, h, spec)
			checkTokens(t, got, spec, texts, time.Time{}, time.Now())
			if at := got["doc-0007"].Values[6].(time.Time); at.Before(from.Truncate(time.Microsecond)) {
				t.Errorf("doc-0007 tokenized at %v, before the run that changed it (%v)", at, from)
			}
		})
	}
}

// checkSummary reads the job's summary and dead letters as its sink keeps
// them: the Parquet manifest and failed.jsonl, or cobatch_jobs and
// cobatch_failures.
func checkSummary(t *testing.T, h *harness, spec pipeline.Spec, written, failed int64) {
	t.Helper()
	if spec.Sink == "postgres" {
		c := connect(t, h.dbURL)
		var w, f, dead int64
		if err := c.QueryRow(context.Background(), `SELECT written, failed, (SELECT count(*) FROM cobatch_failures WHERE job = $1)
			FROM cobatch_jobs WHERE job = $1`, spec.ID).Scan(&w, &f, &dead); err != nil {
			t.Fatal(err)
		}
		if w != written || f != failed || dead != failed {
			t.Errorf("cobatch_jobs written %d failed %d, %d dead letters; want %d %d %d", w, f, dead, written, failed, failed)
		}
		return
	}
	m, err := parquet.ReadManifest(h.out, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Counts.Written != written || m.Counts.Failed != failed || m.Counts.Rows != written {
		t.Errorf("manifest counts %+v, want written %d failed %d", m.Counts, written, failed)
	}
	var cols []string
	for _, c := range m.Schema {
		cols = append(cols, c.Name)
	}
	if want := []string{"id", "tokens", "first_piece", "pieces", "piece_bytes", "bytes_per_token", "even", "tokenized_at",
		"fingerprint", "content_sha256"}; !slices.Equal(cols, want) {
		t.Errorf("manifest columns %v, want %v", cols, want)
	}
	data, err := os.ReadFile(filepath.Join(h.out, spec.ID, parquet.FailedFile))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(data), "\n"); int64(lines) != failed {
		t.Errorf("%s holds %d dead letters, want %d", parquet.FailedFile, lines, failed)
	}
}
