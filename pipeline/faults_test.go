package pipeline_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/queue"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// TestFaultsLoseNothing runs a job through 5xx, connection resets, hangs past
// the client timeout, malformed bodies and a 429 storm: it completes with every
// record written once, nothing archived by asynq, and no text paid for twice
// beyond the calls whose responses were lost.
func TestFaultsLoseNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t,
		coheretest.WithErrorRate(503, 0.05),
		coheretest.WithResets(0.03),
		coheretest.WithHang(0.02),
		coheretest.WithMalformed(0.02),
		// A limit far below what the workers ask for: a 429 storm.
		coheretest.WithRateLimit("embed", 400, time.Second),
	)
	h.limits = map[string]ratelimit.Limit{"embed": {Count: 4000, Per: time.Second}}
	// Long enough that a loaded machine does not time out answered (and
	// billed) calls; hangs still run into it.
	h.timeout = 2 * time.Second
	h.startWorkers(4)
	path, texts := writeCorpus(t, 3000, corpusText)
	spec := h.spec("faults", path)
	spec.ChunkSize = 200
	st := h.run(spec)
	if st.State != jobstore.StateDone || st.Written != 3000 || st.Failed != 0 || st.Total() != 3000 {
		t.Fatalf("status %s written %d failed %d total %d (%s)", st.State, st.Written, st.Failed, st.Total(), st.Reason)
	}
	checkParquet(t, h.out, spec, texts)
	stats := h.fake.Stats()
	if stats.RateLimited == 0 || stats.Resets == 0 || stats.InjectedErrors == 0 {
		t.Errorf("faults not exercised: %+v", stats)
	}
	if st.Throttled == 0 {
		t.Error("the job recorded no 429")
	}
	ins := asynq.NewInspectorFromRedisClient(h.rdb)
	if info, err := ins.GetQueueInfo(queue.DefaultQueue); err != nil {
		t.Fatal(err)
	} else if info.Archived != 0 {
		t.Errorf("%d tasks archived", info.Archived)
	}
	// A text is paid twice only when its response was lost (malformed body)
	// and the call repeated.
	if extra := stats.EmbeddedTexts - 3000; extra > stats.Malformed*pipeline.MaxBatch {
		t.Errorf("%d texts paid twice, more than the %d malformed responses explain", extra, stats.Malformed)
	}
}

// TestTruncatedGzipCostsOnlyItsTail plans a good file and a truncated gzip:
// the good file is embedded whole, the gzip's readable records too, and its
// damage is one dead letter naming the file.
func TestTruncatedGzipCostsOnlyItsTail(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers(2)
	good, texts := writeCorpus(t, 500, corpusText)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for i := range 5000 {
		fmt.Fprintf(zw, "{\"id\":\"gz-%d\",\"text\":\"compressed %d\"}\n", i, i)
	}
	zw.Close()
	bad := filepath.Join(t.TempDir(), "bad.jsonl.gz")
	if err := os.WriteFile(bad, buf.Bytes()[:buf.Len()/2], 0o644); err != nil {
		t.Fatal(err)
	}
	// What the damaged stream still yields, decoded here on its own.
	zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()[:buf.Len()/2]))
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := io.ReadAll(zr)
	if err == nil {
		t.Fatal("the truncated gzip decodes without error")
	}
	decodable := bytes.Count(decoded, []byte("\n"))
	spec := h.spec("gz", good, bad)
	spec.ChunkSize = 500
	st := h.run(spec)
	if st.State != jobstore.StateDone || st.Failed != 1 || st.Written != int64(500+decodable) {
		t.Fatalf("status %s written %d failed %d (%s), want %d written and 1 failed", st.State, st.Written, st.Failed, st.Reason, 500+decodable)
	}
	if st.Total() != st.Records {
		t.Errorf("total %d != planned records %d", st.Total(), st.Records)
	}
	dead, _ := h.store.DeadLetters(context.Background(), spec.ID, 0)
	if len(dead) != 1 || dead[0].File != bad || dead[0].Line != int64(decodable+1) ||
		!strings.Contains(dead[0].Reason, fmt.Sprintf("corrupt input at line %d (byte %d ", decodable+1, bytes.LastIndexByte(decoded, '\n')+1)) ||
		!strings.Contains(dead[0].Reason, "gzip: unexpected EOF") {
		t.Fatalf("dead letters %+v, want one at line %d", dead, decodable+1)
	}
	seen, gzSeen := 0, map[string]bool{}
	if err := parquet.ReadJob(h.out, spec.ID, func(e sinks.Embedding) error {
		if _, ok := texts[e.ID]; ok {
			seen++
		} else {
			gzSeen[e.ID] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	gz := 0
	for i := range decodable {
		if gzSeen[fmt.Sprintf("gz-%d", i)] {
			gz++
		}
	}
	if seen != 500 || gz != decodable || len(gzSeen) != decodable {
		t.Errorf("%d of the good file's 500 records and %d of the gzip's %d decodable ones in the output", seen, gz, decodable)
	}
}
