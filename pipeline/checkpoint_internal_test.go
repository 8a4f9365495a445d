package pipeline

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline/keyspace"
	"github.com/cobatch/cobatch/sinks"
)

// TestCheckpointedEmbeddingIsBitExact: a checkpointed vector decodes to the
// same bits, NaN payloads, signed zeros, infinities and subnormals included,
// with each kind of embedding; absent kinds stay nil; damaged bytes are
// refused, never read as a vector.
func TestCheckpointedEmbeddingIsBitExact(t *testing.T) {
	floats := []float32{0, float32(math.Copysign(0, -1)), 1.5, -2.25e-38, math.SmallestNonzeroFloat32,
		float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x7fc00001), math.Float32frombits(0xffa00000), math.MaxFloat32}
	for _, e := range []*sinks.Embedding{
		{Float: floats},
		{Int8: []int8{-128, -1, 0, 127}, Uint8: []uint8{0, 1, 255}, Binary: []byte{0x80, 0x01}},
		{Float: floats[:2], Int8: []int8{5}, Uint8: []uint8{7}, Binary: []byte{0xff}},
		{},
	} {
		b := appendEmbedding(nil, e)
		got, err := decodeEmbedding(b)
		if err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
		if len(got.Float) != len(e.Float) || (got.Float == nil) != (e.Float == nil) {
			t.Fatalf("floats %v, want %v", got.Float, e.Float)
		}
		for i := range e.Float {
			if math.Float32bits(got.Float[i]) != math.Float32bits(e.Float[i]) {
				t.Errorf("float %d: bits %08x, want %08x", i, math.Float32bits(got.Float[i]), math.Float32bits(e.Float[i]))
			}
		}
		if !slices.Equal(got.Int8, e.Int8) || !slices.Equal(got.Uint8, e.Uint8) || !slices.Equal(got.Binary, e.Binary) ||
			(got.Int8 == nil) != (e.Int8 == nil) || (got.Uint8 == nil) != (e.Uint8 == nil) || (got.Binary == nil) != (e.Binary == nil) {
			t.Errorf("decoded %+v, want %+v", got, e)
		}
		for n := range len(b) {
			if _, err := decodeEmbedding(b[:n]); err == nil {
				t.Errorf("%d of %d bytes decoded without error", n, len(b))
			}
		}
		if _, err := decodeEmbedding(append(b, 0)); err == nil {
			t.Error("a trailing byte decoded without error")
		}
	}
}

// TestCheckpointedVerdictIsExact: a classification comes back equal, its
// float64 confidences to the bit, without the input text.
func TestCheckpointedVerdictIsExact(t *testing.T) {
	v := &cohere.Classification{ID: "c1", Input: "a secret text", Prediction: "sport", Predictions: []string{"sport"},
		Confidence: 0.1 + 0.2, Confidences: []float64{math.SmallestNonzeroFloat64, 1 - 1e-16},
		Labels:             map[string]cohere.LabelConfidence{"sport": {Confidence: 0.30000000000000004}, "tech": {Confidence: 1.0 / 3}},
		ClassificationType: "single-label"}
	b := appendVerdict(nil, v)
	if strings.Contains(string(b), v.Input) {
		t.Fatalf("the checkpoint holds the input text: %s", b)
	}
	got, err := decodeVerdict(b)
	if err != nil {
		t.Fatal(err)
	}
	want := *v
	want.Input = ""
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("decoded %+v, want %+v", *got, want)
	}
	if appendVerdict(nil, nil) != nil {
		t.Error("no verdict encodes to bytes")
	}
}

// TestCheckpointKeyedByTextAndFingerprint: a result is found only for the
// same text under the same operation and fingerprint.
func TestCheckpointKeyedByTextAndFingerprint(t *testing.T) {
	spec := Spec{ID: "j", Op: OpEmbed, Model: "embed-v4.0", Dimensions: 256}.WithDefaults()
	text := sha256.Sum256([]byte("a text"))
	base := newCheckpoint(nil, spec, 0).field(text)
	if again := newCheckpoint(nil, spec, 3).field(text); again != base {
		t.Error("the same text and spec name another field")
	}
	if other := newCheckpoint(nil, spec, 0).field(sha256.Sum256([]byte("a text!"))); other == base {
		t.Error("another text names the same field")
	}
	for name, change := range map[string]func(*Spec){
		"model":          func(s *Spec) { s.Model = "embed-english-v3.0" },
		"dimensions":     func(s *Spec) { s.Dimensions = 512 },
		"input type":     func(s *Spec) { s.InputType = "search_query" },
		"embedding type": func(s *Spec) { s.EmbeddingTypes = []string{"float", "int8"} },
		"truncate":       func(s *Spec) { s.Truncate = "END" },
	} {
		s := spec
		change(&s)
		if newCheckpoint(nil, s, 0).field(text) == base {
			t.Errorf("another %s names the same field", name)
		}
	}
}

// TestRestartDropsCheckpoints: a restarted job starts with no call results
// of its earlier run, whichever of its planned chunks held them.
func TestRestartDropsCheckpoints(t *testing.T) {
	rdb, _ := testenv.RedisClient(t)
	st := NewStore(rdb)
	ctx := context.Background()
	const job = "restart-ckpt"
	if err := st.Planned(ctx, job, 3, 30); err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{0, 2} {
		if err := st.SaveCallResults(ctx, job, chunk, map[string][]byte{"f": []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Restart(ctx, job); err != nil {
		t.Fatal(err)
	}
	for chunk := range 3 {
		if n, err := rdb.Exists(ctx, keyspace.Calls(job, chunk)).Result(); err != nil || n != 0 {
			t.Errorf("chunk %d's checkpoint survives the restart (%d, %v)", chunk, n, err)
		}
	}
}

// BenchmarkCheckpointPerCall measures what the checkpoint adds to one embed
// call of 96 texts (encode the vectors, one Redis round trip) and to a
// chunk's first delivery (one lookup, finding nothing, per ten calls),
// against the call itself: cohere.Client.Embed to the in-process coheretest
// server with no latency, a floor far below a call to the API; and against
// a Redis PING, the round trip each costs at least. Metrics: each in µs,
// save and lookup per call as a ratio to the call, save ÷ PING.
func BenchmarkCheckpointPerCall(b *testing.B) {
	for _, dims := range []int{256, 1536} {
		b.Run(fmt.Sprintf("dims=%d", dims), func(b *testing.B) {
			ctx := context.Background()
			rdb, _ := testenv.RedisClient(b)
			fake := coheretest.NewServer()
			defer fake.Close()
			client, err := cohere.New(cohere.Config{BaseURL: fake.URL, APIKey: coheretest.DefaultAPIKey, Timeout: 30 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			spec := Spec{ID: "bench-ckpt", Op: OpEmbed, Model: "embed-v4.0", Dimensions: dims}.WithDefaults()
			ck := newCheckpoint(NewStore(rdb), spec, 0)
			chunk := make([]item, 10*MaxBatch)
			texts := make([]string, MaxBatch)
			for i := range chunk {
				chunk[i].rec.Text = fmt.Sprintf("benchmark text %d about rivers and comets", i)
				chunk[i].sha = sha256.Sum256([]byte(chunk[i].rec.Text))
			}
			for i := range texts {
				texts[i] = chunk[i].rec.Text
			}
			req := &cohere.EmbedRequest{Model: spec.Model, InputType: spec.InputType, Texts: texts,
				EmbeddingTypes: embeddingTypes(spec.EmbeddingTypes), OutputDimension: dims}
			var call, save, lookup, ping time.Duration
			for b.Loop() {
				start := time.Now()
				if err := rdb.Ping(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				ping += time.Since(start)
				start = time.Now()
				got, err := savedResults(ctx, ck, chunk, decodeEmbedding)
				if err != nil || len(got) != 0 {
					b.Fatalf("%d vectors found in a new chunk (%v)", len(got), err)
				}
				lookup += time.Since(start)
				start = time.Now()
				resp, err := client.Embed(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				call += time.Since(start)
				vecs := make([]*sinks.Embedding, MaxBatch)
				if err := unpack(spec, resp, vecs); err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				if err := saveResults(ctx, ck, chunk[:MaxBatch], vecs, appendEmbedding); err != nil {
					b.Fatal(err)
				}
				save += time.Since(start)
				if got, err := savedResults(ctx, ck, chunk, decodeEmbedding); err != nil || len(got) != MaxBatch {
					b.Fatalf("%d vectors found, want %d (%v)", len(got), MaxBatch, err)
				}
				if err := rdb.Del(ctx, keyspace.Calls(spec.ID, 0)).Err(); err != nil {
					b.Fatal(err)
				}
			}
			n := float64(b.N)
			b.ReportMetric(call.Seconds()*1e6/n, "call-µs")
			b.ReportMetric(save.Seconds()*1e6/n, "save-µs")
			b.ReportMetric(lookup.Seconds()*1e6/n, "chunk-lookup-µs")
			b.ReportMetric(save.Seconds()/call.Seconds(), "save÷call")
			b.ReportMetric(lookup.Seconds()/call.Seconds()/10, "lookup÷call")
			b.ReportMetric(ping.Seconds()*1e6/n, "ping-µs")
			b.ReportMetric(save.Seconds()/ping.Seconds(), "save÷ping")
		})
	}
}
