package coheretest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const fixtures = "../testdata/fixtures" // the copy package cohere keeps of the API fixtures

// setup starts a fake closed at the end of the test.
func setup(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

type reply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// call sends body (marshalled unless it is []byte) with the default key.
func call(t *testing.T, s *Server, method, path string, body any) reply {
	t.Helper()
	return callKey(t, s, DefaultAPIKey, method, path, body)
}

func callKey(t *testing.T, s *Server, key, method, path string, body any) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	json.Unmarshal(raw, &r.body) //nolint:errcheck // some tests expect invalid JSON
	return r
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func fixture(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// wantError checks an {"id","message"} error body.
func wantError(t *testing.T, r reply, status int, msgPrefix string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.raw)
	}
	if got := keys(r.body); !slices.Equal(got, []string{"id", "message"}) {
		t.Fatalf("error body keys = %v, want [id message]", got)
	}
	if msg, _ := r.body["message"].(string); !strings.HasPrefix(msg, msgPrefix) {
		t.Fatalf("message = %q, want prefix %q", msg, msgPrefix)
	}
}

// floats converts a decoded JSON array to float32s.
func floats(t *testing.T, v any) []float32 {
	t.Helper()
	arr, ok := v.([]any)
	if !ok {
		t.Fatalf("not an array: %T", v)
	}
	out := make([]float32, len(arr))
	for i, x := range arr {
		out[i] = float32(x.(float64))
	}
	return out
}

func ints(t *testing.T, v any) []int {
	t.Helper()
	arr, ok := v.([]any)
	if !ok {
		t.Fatalf("not an array: %T", v)
	}
	out := make([]int, len(arr))
	for i, x := range arr {
		out[i] = int(x.(float64))
	}
	return out
}

// poll calls GET path until field of obj (or of the body when obj is "")
// equals one of want, failing after a few seconds.
func poll(t *testing.T, s *Server, path, obj, field string, want ...string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := call(t, s, http.MethodGet, path, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.raw)
		}
		m := r.body
		if obj != "" {
			m, _ = r.body[obj].(map[string]any)
		}
		if v, _ := m[field].(string); slices.Contains(want, v) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %s never reached %v: %s", path, field, want, r.raw)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
