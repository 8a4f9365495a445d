package cohere

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
)

// embedJobSchema is shaped like Cohere's embed job output: text, a record
// of nullable arrays per embedding type, and a kept field.
const embedJobSchema = `{
  "type": "record", "name": "EmbedJobOutput",
  "fields": [
    {"name": "text", "type": "string"},
    {"name": "embeddings", "type": {"type": "record", "name": "Embeddings", "fields": [
      {"name": "float", "type": ["null", {"type": "array", "items": "float"}]},
      {"name": "int8", "type": ["null", {"type": "array", "items": "int"}]},
      {"name": "uint8", "type": ["null", {"type": "array", "items": "int"}]},
      {"name": "binary", "type": ["null", {"type": "array", "items": "int"}]},
      {"name": "ubinary", "type": ["null", {"type": "array", "items": "int"}]}
    ]}},
    {"name": "id", "type": ["null", "string"]}
  ]
}`

type avroEmbeddings struct {
	Float   *[]float32 `avro:"float"`
	Int8    *[]int32   `avro:"int8"`
	Uint8   *[]int32   `avro:"uint8"`
	Binary  *[]int32   `avro:"binary"`
	Ubinary *[]int32   `avro:"ubinary"`
}

type avroRow struct {
	Text       string         `avro:"text"`
	Embeddings avroEmbeddings `avro:"embeddings"`
	ID         *string        `avro:"id"`
}

func writeEmbedJobOCF(t testing.TB, rows int, opts ...ocf.EncoderFunc) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := ocf.NewEncoder(embedJobSchema, &buf, append([]ocf.EncoderFunc{ocf.WithBlockLength(7)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		id := "doc-" + string(rune('a'+i%26))
		f := []float32{float32(i) + 0.25, -0.5, 1e-7}
		i8 := []int32{int32(i % 128), -128}
		bin := []int32{-1, -128, 127}
		ub := []int32{255, 0}
		row := avroRow{Text: strings.Repeat("t", i+1), Embeddings: avroEmbeddings{Float: &f, Int8: &i8, Binary: &bin, Ubinary: &ub}}
		if i%2 == 0 {
			row.ID = &id
		}
		if err := enc.Encode(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// partServer serves body at /part.avro on its own host and records the
// Authorization header of each request.
func partServer(t *testing.T, body []byte) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.URL.Query().Get("sig") != "s3cr3t" {
			http.Error(w, "signature mismatch", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/avro")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), auths...)
	}
}

func TestReadEmbedJobOutput(t *testing.T) {
	t.Parallel()
	const n = 20
	srv, auths := partServer(t, writeEmbedJobOCF(t, n))
	b := setup(t, serveJSON(200, `{}`))
	var rows []EmbedJobRow
	err := b.client.ReadEmbedJobOutput(context.Background(), srv.URL+"/part.avro?sig=s3cr3t", func(r EmbedJobRow) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n {
		t.Fatalf("rows = %d, want %d", len(rows), n)
	}
	first, last := rows[0], rows[n-1]
	wantFirst := EmbedJobRow{Text: "t", Embeddings: Embedding{Float: []float32{0.25, -0.5, 1e-7}, Int8: []int8{0, -128},
		Binary: []byte{0xff, 0x80, 0x7f}, Ubinary: []byte{255, 0}}, Fields: map[string]any{"id": "doc-a"}}
	if !reflect.DeepEqual(first, wantFirst) {
		t.Errorf("first = %+v\nwant %+v", first, wantFirst)
	}
	if last.Text != strings.Repeat("t", n) || last.Embeddings.Float[0] != 19.25 || last.Embeddings.Int8[0] != 19 || last.Fields["id"] != nil || last.Embeddings.Uint8 != nil {
		t.Errorf("last = %+v", last)
	}
	// The part lives on another host: the key must not go there.
	if got := auths(); len(got) != 1 || got[0] != "" {
		t.Errorf("Authorization sent to the storage host: %q", got)
	}
}

func TestReadDatasetPart(t *testing.T) {
	t.Parallel()
	data := writeEmbedJobOCF(t, 3)
	t.Run("generic rows with unions unwrapped", func(t *testing.T) {
		t.Parallel()
		srv, _ := partServer(t, data)
		b := setup(t, serveJSON(200, `{}`))
		var rows []map[string]any
		err := b.client.ReadDatasetPart(context.Background(), srv.URL+"/p?sig=s3cr3t", func(r map[string]any) error {
			rows = append(rows, r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		emb := rows[1]["embeddings"].(map[string]any)
		if len(rows) != 3 || rows[0]["id"] != "doc-a" || rows[1]["id"] != nil || emb["uint8"] != nil || !reflect.DeepEqual(emb["float"], []any{float32(1.25), float32(-0.5), float32(1e-7)}) {
			t.Errorf("rows = %#v", rows)
		}
	})
	t.Run("same host gets the key, relative URL resolved", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(data) })
		count := 0
		if err := b.client.ReadDatasetPart(context.Background(), "/prefix/v1/datasets/d/parts/0", func(map[string]any) error { count++; return nil }); err != nil {
			t.Fatal(err)
		}
		r := b.requests()[0]
		if count != 3 || r.Path != "/prefix/v1/datasets/d/parts/0" || r.Header.Get("Authorization") != "Bearer "+testKey {
			t.Errorf("count %d, request %s auth %q", count, r.Path, r.Header.Get("Authorization"))
		}
	})
	t.Run("callback error stops the read", func(t *testing.T) {
		t.Parallel()
		srv, _ := partServer(t, data)
		b := setup(t, serveJSON(200, `{}`))
		stop := errors.New("enough")
		count := 0
		err := b.client.ReadDatasetPart(context.Background(), srv.URL+"/p?sig=s3cr3t", func(map[string]any) error { count++; return stop })
		if !errors.Is(err, stop) || count != 1 {
			t.Errorf("err = %v after %d rows", err, count)
		}
	})
	t.Run("error hides the signature", func(t *testing.T) {
		t.Parallel()
		srv, _ := partServer(t, data)
		b := setup(t, serveJSON(200, `{}`))
		err := b.client.ReadDatasetPart(context.Background(), srv.URL+"/p?sig=wrong", func(map[string]any) error { return nil })
		apiErr, ok := errors.AsType[*APIError](err)
		if !ok || apiErr.StatusCode != http.StatusForbidden || strings.Contains(err.Error(), "wrong") {
			t.Errorf("err = %v", err)
		}
		srv.Close()
		err = b.client.ReadDatasetPart(context.Background(), srv.URL+"/p?sig=topsecret", func(map[string]any) error { return nil })
		if err == nil || strings.Contains(err.Error(), "topsecret") || !IsRetryable(err) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("not avro", func(t *testing.T) {
		t.Parallel()
		b := setup(t, serveJSON(200, `{"not":"avro"}`))
		if err := b.client.ReadDatasetPart(context.Background(), "/prefix/x", func(map[string]any) error { return nil }); err == nil {
			t.Error("no error")
		}
	})
}

func TestReadBatchOutput(t *testing.T) {
	t.Parallel()
	const schema = `{"type":"record","name":"BatchOutput","fields":[{"name":"custom_id","type":"string"},{"name":"body","type":"string"}]}`
	var buf bytes.Buffer
	enc, err := ocf.NewEncoder(schema, &buf)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"id":"r1","embeddings":{"float":[[0.5,0.25]]},"texts":["x"]}`
	for _, id := range []string{"4", "4", "7"} {
		if err := enc.Encode(map[string]any{"custom_id": id, "body": body}); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	b := setup(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(buf.Bytes()) })
	var ids []string
	err = b.client.ReadBatchOutput(context.Background(), "/prefix/out", func(r BatchOutputRow) error {
		var resp EmbedResponse
		if err := json.Unmarshal(r.Body, &resp); err != nil {
			return err
		}
		if resp.Embeddings.Float[0][1] != 0.25 {
			t.Errorf("body decoded to %+v", resp)
		}
		ids = append(ids, r.CustomID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids, []string{"4", "4", "7"}) {
		t.Errorf("ids = %v", ids)
	}
}

func TestReadDatasetPartStalls(t *testing.T) {
	t.Parallel()
	data := writeEmbedJobOCF(t, 2)
	t.Run("hang before headers is retried", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int32
		b := setup(t, func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				<-r.Context().Done()
				return
			}
			_, _ = w.Write(data)
		}, func(c *Config) { c.Timeout = 150 * time.Millisecond })
		rows := 0
		if err := b.client.ReadDatasetPart(context.Background(), "/prefix/p", func(map[string]any) error { rows++; return nil }); err != nil {
			t.Fatal(err)
		}
		if rows != 2 || calls.Load() != 2 {
			t.Errorf("rows %d after %d calls", rows, calls.Load())
		}
	})
	t.Run("hang mid-stream fails retryable, not resent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(data[:len(data)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}, func(c *Config) { c.Timeout = 150 * time.Millisecond })
		err := b.client.ReadDatasetPart(context.Background(), "/prefix/p", func(map[string]any) error { return nil })
		if err == nil || !IsRetryable(err) || len(b.requests()) != 1 {
			t.Errorf("err = %v (retryable %v), requests %d", err, IsRetryable(err), len(b.requests()))
		}
	})
}

// TestEmbedJobTypedMatchesGeneric: the hand reader and the generic one give
// the same rows for the same part, whatever the container's codec, and the
// hand reader is used only for the schema shape it knows.
func TestEmbedJobTypedMatchesGeneric(t *testing.T) {
	t.Parallel()
	const n = 40
	for _, codec := range []ocf.CodecName{ocf.Null, ocf.Deflate, ocf.Snappy, ocf.ZStandard} {
		t.Run(string(codec), func(t *testing.T) {
			srv, _ := partServer(t, writeEmbedJobOCF(t, n, ocf.WithCodec(codec)))
			b := setup(t, serveJSON(200, `{}`))
			var typed, generic []EmbedJobRow
			if err := b.client.ReadEmbedJobOutput(t.Context(), srv.URL+"/part.avro?sig=s3cr3t", func(r EmbedJobRow) error {
				typed = append(typed, r)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			err := b.client.ReadDatasetPart(t.Context(), srv.URL+"/part.avro?sig=s3cr3t", func(row map[string]any) error {
				r, err := embedJobRow(row)
				generic = append(generic, r)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(typed) != n || !reflect.DeepEqual(typed, generic) {
				t.Fatalf("typed rows differ from generic ones:\n%+v\n%+v", typed[:min(2, len(typed))], generic[:min(2, len(generic))])
			}
		})
	}
	if _, ok := newJobReader(avro.MustParse(embedJobSchema)); !ok {
		t.Error("the hand reader refused the embed job schema")
	}
	doubles := strings.Replace(embedJobSchema, `"items": "float"`, `"items": "double"`, 1)
	if _, ok := newJobReader(avro.MustParse(doubles)); ok {
		t.Error("the hand reader took float vectors of doubles")
	}
	// A schema of another shape is read generically.
	var buf bytes.Buffer
	enc, err := ocf.NewEncoder(doubles, &buf)
	if err != nil {
		t.Fatal(err)
	}
	type embs struct {
		Float   *[]float64 `avro:"float"`
		Int8    *[]int32   `avro:"int8"`
		Uint8   *[]int32   `avro:"uint8"`
		Binary  *[]int32   `avro:"binary"`
		Ubinary *[]int32   `avro:"ubinary"`
	}
	type row struct {
		Text       string  `avro:"text"`
		Embeddings embs    `avro:"embeddings"`
		ID         *string `avro:"id"`
	}
	f, id := []float64{0.5, -2}, "doc-1"
	if err := enc.Encode(row{Text: "t", Embeddings: embs{Float: &f}, ID: &id}); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	srv, _ := partServer(t, buf.Bytes())
	var got []EmbedJobRow
	if err := setup(t, serveJSON(200, `{}`)).client.ReadEmbedJobOutput(t.Context(), srv.URL+"/part.avro?sig=s3cr3t", func(r EmbedJobRow) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []EmbedJobRow{{Text: "t", Embeddings: Embedding{Float: []float32{0.5, -2}}, Fields: map[string]any{"id": "doc-1"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("doubles schema read as %+v, want %+v", got, want)
	}
}

// FuzzReadEmbedJobRows: whatever the bytes, the hand reader of embed job
// parts returns (it never panics nor allocates without bound), and what it
// reads without error the generic decoder reads the same.
func FuzzReadEmbedJobRows(f *testing.F) {
	for _, codec := range []ocf.CodecName{ocf.Null, ocf.Deflate, ocf.Snappy} {
		f.Add(writeEmbedJobOCF(f, 3, ocf.WithCodec(codec)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var typed []EmbedJobRow
		if err := readEmbedJobRows(bytes.NewReader(data), func(r EmbedJobRow) error {
			typed = append(typed, r)
			return nil
		}); err != nil {
			return
		}
		dec, err := ocf.NewDecoder(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("hand reader took a part the generic decoder refuses: %v", err)
		}
		var generic []EmbedJobRow
		if err := eachGenericRow(dec, func(row map[string]any) error {
			r, err := embedJobRow(row)
			generic = append(generic, r)
			return err
		}); err != nil || dec.Error() != nil {
			t.Fatalf("hand reader took a part the generic decoder refuses: %v %v", err, dec.Error())
		}
		if len(typed) != len(generic) || (len(typed) > 0 && !reflect.DeepEqual(typed, generic)) {
			t.Fatalf("hand reader read %d rows, the generic decoder %d", len(typed), len(generic))
		}
	})
}
