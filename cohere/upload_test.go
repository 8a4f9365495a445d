package cohere

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jsonlSource synthesizes size bytes of JSONL without holding them.
type jsonlSource struct {
	block     []byte
	off       int
	remaining int64
}

func newJSONLSource(size int64) *jsonlSource {
	var b bytes.Buffer
	for i := 0; b.Len() < 64<<10; i++ {
		fmt.Fprintf(&b, `{"id":"%08d","text":"the quick brown fox jumps over the lazy dog %d"}`+"\n", i, i)
	}
	return &jsonlSource{block: b.Bytes(), remaining: size}
}

func (s *jsonlSource) Read(p []byte) (int, error) {
	if s.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.remaining {
		p = p[:s.remaining]
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], s.block[s.off:])
		n += c
		s.off = (s.off + c) % len(s.block)
	}
	s.remaining -= int64(n)
	return n, nil
}

// TestCreateDatasetStreams uploads 200 MB made on the fly and checks that
// every byte arrives in the "data" part while the heap stays small. Not
// parallel: the heap is measured for the whole process.
func TestCreateDatasetStreams(t *testing.T) {
	const size = 200 << 20
	var (
		total        atomic.Int64
		head, tail   []byte
		query, ctype string
	)
	// Not setup's server: it buffers bodies to record them. This one counts
	// the bytes and keeps only the multipart envelope around the data, so
	// the test stays fast even under the race detector.
	srv := httptest.NewServer(http.StripPrefix(testPrefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query, ctype = r.URL.RawQuery, r.Header.Get("Content-Type")
		buf := make([]byte, 1<<20)
		var n int64
		for {
			k, err := r.Body.Read(buf)
			if k > 0 {
				if head == nil {
					head = append([]byte(nil), buf[:min(k, 512)]...)
				}
				tail = append(tail, buf[:k]...)
				tail = tail[max(0, len(tail)-256):]
				n += int64(k)
			}
			if err != nil {
				break
			}
		}
		total.Store(n)
		serveJSON(200, `{"id":"ds-big"}`)(w, r)
	})))
	defer srv.Close()
	client, err := New(Config{BaseURL: srv.URL + testPrefix, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	id, err := client.CreateDataset(context.Background(),
		DatasetCreateParams{Name: "big", Type: DatasetEmbedInput, KeepFields: []string{"id"}}, newJSONLSource(size), "big.jsonl")
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	boundary := strings.TrimPrefix(ctype, "multipart/form-data; boundary=")
	wantHead := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"data\"; filename=\"big.jsonl\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n"
	wantTail := "\r\n--" + boundary + "--\r\n"
	if id != "ds-big" || query != "keep_fields=id&name=big&type=embed-input" {
		t.Errorf("id %q, query %q", id, query)
	}
	if got, want := total.Load(), int64(len(wantHead)+size+len(wantTail)); got != want {
		t.Errorf("received %d bytes, want %d (%d of data in the envelope)", got, want, size)
	}
	if !strings.HasPrefix(string(head), wantHead) || !strings.HasSuffix(string(tail), wantTail) {
		t.Errorf("envelope: head %q, tail %q", head[:min(len(head), 200)], tail)
	}
	grown := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("heap in use: %d MB before, %d MB peak during a %d MB upload", base.HeapInuse>>20, peak.Load()>>20, size>>20)
	if grown > 50<<20 {
		t.Errorf("heap grew by %d MB during the upload, want < 50 MB", grown>>20)
	}
}

// multipartUpload is what a test server saw of one upload.
type multipartUpload struct {
	query string
	parts map[string]string // form name -> filename + ":" + content
}

func uploadServer(t *testing.T, statuses ...int) (*bundle, func() []multipartUpload) {
	var mu sync.Mutex
	var seen []multipartUpload
	n := 0
	b := setup(t, func(w http.ResponseWriter, r *http.Request) {
		up := multipartUpload{query: r.URL.RawQuery, parts: map[string]string{}}
		mr, err := r.MultipartReader()
		if err == nil {
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				content, _ := io.ReadAll(p)
				up.parts[p.FormName()] = p.FileName() + ":" + string(content)
			}
		}
		mu.Lock()
		seen = append(seen, up)
		status := statuses[min(n, len(statuses)-1)]
		n++
		mu.Unlock()
		if status != 200 {
			serveJSON(status, `{"message":"unavailable"}`)(w, r)
			return
		}
		serveJSON(200, `{"id":"ds-1"}`)(w, r)
	})
	return b, func() []multipartUpload {
		mu.Lock()
		defer mu.Unlock()
		return append([]multipartUpload(nil), seen...)
	}
}

// onlyReader hides every method but Read (so not an io.Seeker).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestCreateDatasetRetries(t *testing.T) {
	t.Parallel()
	const data = `{"text":"a"}` + "\n" + `{"text":"b"}` + "\n"
	tests := []struct {
		name      string
		data      io.Reader
		statuses  []int
		wantCalls int
		wantErr   bool
	}{
		// A 429 proves the server created nothing: the upload is resent.
		{"seekable is rewound and resent", strings.NewReader(data), []int{429, 200}, 2, false},
		{"seekable from a later offset", func() io.Reader { r := strings.NewReader("skip" + data); _, _ = r.Seek(4, io.SeekStart); return r }(), []int{429, 200}, 2, false},
		{"non-seekable is not resent", onlyReader{strings.NewReader(data)}, []int{429, 200}, 1, true},
		{"400 is not resent", strings.NewReader(data), []int{400}, 1, true},
		// After a 5xx the dataset may exist: the caller looks it up by name.
		{"503 is not resent", strings.NewReader(data), []int{503, 200}, 1, true},
		{"500 is not resent", strings.NewReader(data), []int{500, 200}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, seen := uploadServer(t, tt.statuses...)
			id, err := b.client.CreateDataset(context.Background(), DatasetCreateParams{Name: "n", Type: DatasetEmbedInput}, tt.data, "in.jsonl")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			ups := seen()
			if len(ups) != tt.wantCalls {
				t.Fatalf("calls = %d, want %d", len(ups), tt.wantCalls)
			}
			for i, up := range ups {
				if up.parts["data"] != "in.jsonl:"+data {
					t.Errorf("attempt %d sent %q", i+1, up.parts["data"])
				}
			}
			if !tt.wantErr && id != "ds-1" {
				t.Errorf("id = %q", id)
			}
			if tt.wantErr {
				if _, ok := errors.AsType[*APIError](err); !ok {
					t.Errorf("err = %v, want the APIError", err)
				}
			}
		})
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n > 0 {
		f.n--
		return copy(p, "line\n"), nil
	}
	return 0, errors.New("disk on fire")
}

func TestCreateDatasetParamsAndFailures(t *testing.T) {
	t.Parallel()
	t.Run("every parameter and eval data", func(t *testing.T) {
		t.Parallel()
		b, seen := uploadServer(t, 200)
		_, err := b.client.CreateDataset(context.Background(), DatasetCreateParams{
			Name: "n", Type: "embed-input", KeepFields: []string{"a", "b"}, OptionalFields: []string{"c"},
			KeepOriginalFile: true, SkipMalformedInput: true, TextSeparator: "\n\n", CSVDelimiter: ";",
			EvalData: strings.NewReader("e"), EvalFilename: "eval.csv",
		}, strings.NewReader("d"), "train.csv")
		if err != nil {
			t.Fatal(err)
		}
		up := seen()[0]
		wantQuery := "csv_delimiter=%3B&keep_fields=a&keep_fields=b&keep_original_file=true&name=n&optional_fields=c&skip_malformed_input=true&text_separator=%0A%0A&type=embed-input"
		if up.query != wantQuery || up.parts["data"] != "train.csv:d" || up.parts["eval_data"] != "eval.csv:e" || len(up.parts) != 2 {
			t.Errorf("query %q parts %v", up.query, up.parts)
		}
		if ct := b.requests()[0].Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/form-data; boundary=") {
			t.Errorf("Content-Type = %q", ct)
		}
	})
	t.Run("source failure is not retried", func(t *testing.T) {
		t.Parallel()
		b, _ := uploadServer(t, 200)
		_, err := b.client.CreateDataset(context.Background(), DatasetCreateParams{Name: "n", Type: "embed-input"}, &failingReader{n: 3}, "x.jsonl")
		if err == nil || !strings.Contains(err.Error(), "disk on fire") || len(b.waits()) != 0 {
			t.Errorf("err = %v, waits %d", err, len(b.waits()))
		}
	})
	t.Run("missing arguments", func(t *testing.T) {
		t.Parallel()
		b, _ := uploadServer(t, 200)
		for _, tc := range []struct {
			p    DatasetCreateParams
			data io.Reader
			file string
			want string
		}{
			{DatasetCreateParams{Type: "t"}, strings.NewReader(""), "f", "Name is required"},
			{DatasetCreateParams{Name: "n"}, strings.NewReader(""), "f", "Type is required"},
			{DatasetCreateParams{Name: "n", Type: "t"}, nil, "f", "data is nil"},
			{DatasetCreateParams{Name: "n", Type: "t"}, strings.NewReader(""), "", "filename is required"},
		} {
			if _, err := b.client.CreateDataset(context.Background(), tc.p, tc.data, tc.file); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		}
		if len(b.requests()) != 0 {
			t.Errorf("sent %d requests", len(b.requests()))
		}
	})
	t.Run("stalled server times out", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, func(c *Config) { c.Timeout = 200 * time.Millisecond; c.Retry.MaxAttempts = 1 })
		start := time.Now()
		_, err := b.client.CreateDataset(context.Background(), DatasetCreateParams{Name: "n", Type: "t"}, strings.NewReader("x"), "x.jsonl")
		if err == nil || !errors.Is(err, errStalled) || !IsRetryable(err) {
			t.Errorf("err = %v", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("took %s", time.Since(start))
		}
	})
	t.Run("multipart part is data, as the spec says, not file", func(t *testing.T) {
		t.Parallel()
		curl := string(fixture(t, "datasets_create_request_curl.txt"))
		if !strings.Contains(curl, "?name=my-dataset&type=embed-input") {
			t.Fatal("fixture changed")
		}
		b, seen := uploadServer(t, 200)
		sample := fixture(t, "docs_samples/embed_input_dataset_sample.jsonl")
		if _, err := b.client.CreateDataset(context.Background(), DatasetCreateParams{Name: "my-dataset", Type: "embed-input"}, bytes.NewReader(sample), "file.jsonl"); err != nil {
			t.Fatal(err)
		}
		up := seen()[0]
		if up.query != "name=my-dataset&type=embed-input" || up.parts["data"] != "file.jsonl:"+string(sample) {
			t.Errorf("query %q, parts %v", up.query, len(up.parts))
		}
	})
}
