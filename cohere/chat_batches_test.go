package cohere

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestBatchChatLineConformance checks a written line against the API's
// shapes: the keys of a batch input line
// (docs_samples/batch_embed_v2_input_line.json) and, as its body, the
// API's example /v2/chat request less "stream", which batches do not take.
func TestBatchChatLineConformance(t *testing.T) {
	t.Parallel()
	var sample map[string]any
	if err := json.Unmarshal(fixture(t, "docs_samples/batch_embed_v2_input_line.json"), &sample); err != nil {
		t.Fatal(err)
	}
	var wantBody map[string]any
	if err := json.Unmarshal(fixture(t, "v2_chat_request.json"), &wantBody); err != nil {
		t.Fatal(err)
	}
	delete(wantBody, "stream")
	var req ChatRequest
	if err := json.Unmarshal(fixture(t, "v2_chat_request.json"), &req); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	w := NewBatchChatWriter(&buf)
	if err := w.Write("1", &req); err != nil {
		t.Fatal(err)
	}
	noModel := req
	noModel.Model = ""
	if err := w.Write("2", &noModel); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 || w.Lines() != 2 {
		t.Fatalf("lines = %q", lines)
	}
	var got []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if k, want := slices.Sorted(maps.Keys(got[0])), slices.Sorted(maps.Keys(sample)); !slices.Equal(k, want) {
		t.Fatalf("line keys %v, want %v", k, want)
	}
	if got[0]["custom_id"] != "1" || !reflect.DeepEqual(got[0]["body"], wantBody) {
		t.Errorf("line 1 = %s, want body %v", lines[0], wantBody)
	}
	delete(wantBody, "model")
	if !reflect.DeepEqual(got[1]["body"], wantBody) {
		t.Errorf("line 2 = %s, want body %v (no model: the batch's answers)", lines[1], wantBody)
	}
}

func TestBatchChatWriterRefuses(t *testing.T) {
	t.Parallel()
	temp := 2.0
	ok := &ChatRequest{Messages: []ChatMessage{UserMessage("hi")}}
	var buf bytes.Buffer
	w := NewBatchChatWriter(&buf)
	if err := w.Write("a", ok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id   string
		req  *ChatRequest
		want string
	}{
		{"", ok, "line 2: empty custom_id"},
		{"a", ok, `line 2: custom_id "a" repeated`},
		{"b", nil, `line 2 (custom_id "b"): nil request`},
		{"b", &ChatRequest{}, `line 2 (custom_id "b"): no messages`},
		{"b", &ChatRequest{Messages: ok.Messages, Temperature: &temp}, "temperature 2 outside [0, 1]"},
	} {
		if err := w.Write(tc.id, tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Write(%q) = %v, want %q", tc.id, err, tc.want)
		}
	}
	if err := w.Flush(); err != nil || w.Lines() != 1 || strings.Count(buf.String(), "\n") != 1 {
		t.Fatalf("lines %d, %q, %v", w.Lines(), buf.String(), err)
	}
}

// TestBatchChatRowConformance decodes output rows in the shape of the
// batch output record (docs_samples/batch_embed_v2_output_record_truncated.txt:
// custom_id and body) with the API's example /v2/chat answer as body, both
// as Avro gives it (JSON text) and as JSON (an object), and error rows in
// the API's error body shape (error_responses_schema.json).
func TestBatchChatRowConformance(t *testing.T) {
	t.Parallel()
	if !bytes.Contains(fixture(t, "docs_samples/batch_embed_v2_output_record_truncated.txt"), []byte(`"custom_id": "4",
  "body": {`)) {
		t.Fatal("the output record sample no longer has custom_id and body")
	}
	raw := fixture(t, "v2_chat_response.json")
	var want ChatResponse
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	for _, body := range []any{string(raw), obj} {
		r, err := BatchChatRow(map[string]any{"custom_id": "4", "body": body, "error": nil})
		if err != nil || r.CustomID != "4" || r.Err != nil || !reflect.DeepEqual(*r.Response, want) {
			t.Errorf("body %T: %+v, %v", body, r, err)
		}
	}
	r, err := BatchChatRow(map[string]any{"custom_id": "5", "body": nil, "error": `{"id":"e1","message":"invalid request: x"}`})
	if err != nil || r.Response != nil || *r.Err != (BatchLineError{ID: "e1", Message: "invalid request: x"}) {
		t.Errorf("error row: %+v, %v", r, err)
	}
	r, err = BatchChatRow(map[string]any{"custom_id": "6", "error": "model overloaded"})
	if err != nil || r.Err.Message != "model overloaded" {
		t.Errorf("plain error row: %+v, %v", r, err)
	}
	for _, bad := range []map[string]any{
		{"body": string(raw)},
		{"custom_id": "7"},
		{"custom_id": "7", "body": string(raw), "error": `{"message":"x"}`},
		{"custom_id": "7", "body": `{"id":`},
	} {
		if _, err := BatchChatRow(bad); err == nil {
			t.Errorf("row %v: no error", bad)
		}
	}
}
