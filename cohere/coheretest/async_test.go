package coheretest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2/ocf"
)

// upload creates a dataset with a streamed multipart body, as clients do.
func upload(t *testing.T, s *Server, query, filename, content string) reply {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, err := mw.CreateFormFile("data", filename)
		if err == nil {
			_, err = io.Copy(fw, strings.NewReader(content))
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/datasets?"+query, pr)
	req.Header.Set("Authorization", "Bearer "+DefaultAPIKey)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, raw: raw}
	json.Unmarshal(raw, &r.body) //nolint:errcheck // checked by callers
	return r
}

// readParts downloads every part of a dataset (without auth, like a
// pre-signed URL) and decodes its Avro rows.
func readParts(t *testing.T, ds map[string]any) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for _, p := range ds["dataset_parts"].([]any) {
		url := p.(map[string]any)["url"].(string)
		resp, err := http.Get(url)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", url, err, resp)
		}
		dec, err := ocf.NewDecoder(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for dec.HasNext() {
			var row map[string]any
			if err := dec.Decode(&row); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, row)
			n++
		}
		resp.Body.Close()
		if err := dec.Error(); err != nil {
			t.Fatal(err)
		}
		if want := int(p.(map[string]any)["num_rows"].(float64)); n != want {
			t.Fatalf("part has %d rows, num_rows says %d", n, want)
		}
	}
	return rows
}

// unionArray unwraps a decoded nullable Avro array.
func unionArray(v any) []any {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			return e.([]any)
		}
	case []any:
		return x
	}
	return nil
}

func TestEmbedJobLifecycle(t *testing.T) {
	t.Parallel()
	// Validation takes long enough that the first GET sees "processing" even
	// on a loaded machine; the embed job's own processing keeps its default.
	s := setup(t, WithPartRows(2), WithAsyncDelays(time.Second, DefaultProcessDelay))
	var lines []string
	texts := []string{"first document text", "second one", "third, with a comma", "fourth"}
	for i, tx := range texts {
		lines = append(lines, fmt.Sprintf(`{"id": %d, "text": %q, "lang": "en", "dropped": true}`, i, tx))
	}
	r := upload(t, s, "name=My+Docs&type=embed-input&keep_fields=id,lang", "docs.jsonl", strings.Join(lines, "\n")+"\n")
	if r.status != 200 {
		t.Fatalf("create dataset: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	if !strings.HasPrefix(id, "my-docs-") {
		t.Fatalf("dataset id %q", id)
	}
	if got := call(t, s, http.MethodGet, "/v1/datasets/"+id, nil); got.body["dataset"].(map[string]any)["validation_status"] != "processing" {
		t.Fatalf("a new dataset should be processing: %s", got.raw)
	}
	ds := poll(t, s, "/v1/datasets/"+id, "dataset", "validation_status", "validated", "failed")
	if ds["validation_status"] != "validated" {
		t.Fatalf("dataset: %v", ds)
	}
	in := readParts(t, ds)
	if len(in) != 4 || in[1]["text"] != texts[1] {
		t.Fatalf("input rows = %v", in)
	}

	wantError(t, call(t, s, http.MethodPost, "/v1/embed-jobs", map[string]any{"model": "embed-english-v3.0", "dataset_id": id}), 400, "invalid request: valid input_type")
	wantError(t, call(t, s, http.MethodPost, "/v1/embed-jobs", map[string]any{"model": "embed-english-v3.0", "dataset_id": "nope", "input_type": "search_document"}), 404, "dataset with id nope not found")
	r = call(t, s, http.MethodPost, "/v1/embed-jobs", map[string]any{
		"model": "embed-english-v3.0", "dataset_id": id, "input_type": "search_document",
		"embedding_types": []string{"float", "int8", "ubinary"}, "name": "job1",
	})
	if r.status != 200 {
		t.Fatalf("create job: %d %s", r.status, r.raw)
	}
	jobID := r.body["job_id"].(string)
	job := poll(t, s, "/v1/embed-jobs/"+jobID, "", "status", JobComplete, JobFailed)
	if job["status"] != JobComplete || job["input_dataset_id"] != id || job["truncate"] != "END" {
		t.Fatalf("job = %v", job)
	}
	out := poll(t, s, "/v1/datasets/"+job["output_dataset_id"].(string), "dataset", "validation_status", "validated")
	if out["dataset_type"] != TypeEmbedResult || len(out["dataset_parts"].([]any)) != 2 {
		t.Fatalf("output dataset = %v", out)
	}
	rows := readParts(t, out)
	if len(rows) != len(texts) {
		t.Fatalf("%d output rows, want %d", len(rows), len(texts))
	}
	for i, row := range rows {
		if row["text"] != texts[i] {
			t.Fatalf("row %d text %v", i, row["text"])
		}
		if _, ok := row["dropped"]; ok {
			t.Fatal("a field outside keep_fields was kept")
		}
		if got := fmt.Sprint(row["id"], row["lang"]); !strings.Contains(got, fmt.Sprint(i)) || !strings.Contains(got, "en") {
			t.Fatalf("kept fields = %v %v", row["id"], row["lang"])
		}
		emb := row["embeddings"].(map[string]any)
		want := Embedding("embed-english-v3.0", "search_document", texts[i], 1024)
		var got []float32
		for _, x := range unionArray(emb["float"]) {
			got = append(got, x.(float32))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("row %d float differs from Embedding()", i)
		}
		var gotI8 []int
		for _, x := range unionArray(emb["int8"]) {
			gotI8 = append(gotI8, x.(int))
		}
		if !slices.Equal(gotI8, toInts(Int8(want))) {
			t.Fatalf("row %d int8 differs", i)
		}
		if len(unionArray(emb["ubinary"])) != 128 || emb["uint8"] != nil || emb["binary"] != nil {
			t.Fatalf("row %d: ubinary %d, uint8 %v, binary %v", i, len(unionArray(emb["ubinary"])), emb["uint8"], emb["binary"])
		}
	}
	if st := s.Stats(); st.EmbeddedTexts != 4 || st.UniqueTexts != 4 || s.EmbedCount(texts[0]) != 1 {
		t.Fatalf("stats = %+v", st)
	}
	list := call(t, s, http.MethodGet, "/v1/embed-jobs", nil)
	if jobs := list.body["embed_jobs"].([]any); len(jobs) != 1 || jobs[0].(map[string]any)["job_id"] != jobID {
		t.Fatalf("list = %s", list.raw)
	}

	// Cleanup: both datasets can be deleted and then no longer exist.
	for _, d := range []string{id, out["id"].(string)} {
		if r := call(t, s, http.MethodDelete, "/v1/datasets/"+d, nil); r.status != 200 {
			t.Fatalf("delete %s: %d", d, r.status)
		}
	}
	if ds := s.Datasets(); len(ds) != 0 {
		t.Fatalf("datasets left: %v", ds)
	}
	wantError(t, call(t, s, http.MethodGet, "/v1/datasets/"+id, nil), 404, "dataset with id "+id+" not found")
}

func TestDatasetValidationFailsAndFormats(t *testing.T) {
	t.Parallel()
	s := setup(t)
	tests := []struct {
		name, query, file, content, status string
		rows                               int
	}{
		{"missing text", "name=a&type=embed-input", "a.jsonl", "{\"text\":\"ok\"}\n{\"title\":\"no text\"}\n", "failed", 0},
		{"missing keep field", "name=a&type=embed-input&keep_fields=id", "a.jsonl", "{\"text\":\"ok\",\"id\":1}\n{\"text\":\"x\"}\n", "failed", 0},
		{"optional field missing is fine", "name=a&type=embed-input&optional_fields=id", "a.jsonl", "{\"text\":\"ok\",\"id\":1}\n{\"text\":\"x\"}\n", "validated", 2},
		{"invalid json", "name=a&type=embed-input", "a.jsonl", "{\"text\":\n", "failed", 0},
		{"skip malformed", "name=a&type=embed-input&skip_malformed_input=true", "a.jsonl", "{\"text\":\n{\"text\":\"ok\"}\n", "validated", 1},
		{"csv", "name=a&type=embed-input&keep_fields=id", "a.csv", "id,text\n1,hello\n2,\"with, comma\"\n", "validated", 2},
		{"csv delimiter", "name=a&type=embed-input&csv_delimiter=%3B", "a.csv", "id;text\n1;hello\n", "validated", 1},
		{"txt", "name=a&type=embed-input&text_separator=%7C", "a.txt", "one|two|three", "validated", 3},
		{"batch input", "name=b&type=batch-embed-v2-input", "b.jsonl", "{\"custom_id\":\"1\",\"body\":{\"input_type\":\"search_document\",\"texts\":[\"x\"]}}\n", "validated", 1},
		{"batch input without body", "name=b&type=batch-embed-v2-input", "b.jsonl", "{\"custom_id\":\"1\"}\n", "failed", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := upload(t, s, tt.query, tt.file, tt.content)
			if r.status != 200 {
				t.Fatalf("create: %d %s", r.status, r.raw)
			}
			ds := poll(t, s, "/v1/datasets/"+r.body["id"].(string), "dataset", "validation_status", "validated", "failed")
			if ds["validation_status"] != tt.status {
				t.Fatalf("status = %v (%v), want %s", ds["validation_status"], ds["validation_error"], tt.status)
			}
			if tt.status == "failed" {
				if ds["validation_error"] == "" || len(ds["dataset_parts"].([]any)) != 0 {
					t.Fatalf("failed dataset = %v", ds)
				}
				return
			}
			if rows := readParts(t, ds); len(rows) != tt.rows {
				t.Fatalf("%d rows, want %d", len(rows), tt.rows)
			}
		})
	}
	wantError(t, upload(t, s, "name=a&type=chat-finetune-input", "a.jsonl", "{}"), 400, "invalid request: dataset type")
	wantError(t, upload(t, s, "type=embed-input", "a.jsonl", "{}"), 400, "invalid request: name is required")
}

func TestDatasetListAndUsage(t *testing.T) {
	t.Parallel()
	s := setup(t, WithAsyncDelays(0, 0))
	for _, n := range []string{"one", "two"} {
		if r := upload(t, s, "name="+n+"&type=embed-input", "a.jsonl", `{"text":"hi"}`); r.status != 200 {
			t.Fatalf("create: %d", r.status)
		}
	}
	r := call(t, s, http.MethodGet, "/v1/datasets?limit=1&offset=1", nil)
	ds := r.body["datasets"].([]any)
	if len(ds) != 1 || ds[0].(map[string]any)["name"] != "two" {
		t.Fatalf("list = %s", r.raw)
	}
	// validation_error is only present on failed datasets.
	want := slices.DeleteFunc(keys(fixture(t, "synthetic_fern_wiremock/datasets_list_response.json")["datasets"].([]any)[0].(map[string]any)),
		func(k string) bool { return k == "validation_error" })
	if got := keys(ds[0].(map[string]any)); !slices.Equal(got, want) {
		t.Fatalf("dataset keys = %v, want %v", got, want)
	}
	u := call(t, s, http.MethodGet, "/v1/datasets/usage", nil)
	if u.body["organization_usage"].(float64) <= 2*float64(len(`{"text":"hi"}`)) {
		t.Fatalf("usage = %s", u.raw)
	}
}

func TestBatchLifecycleWithRepeatedRows(t *testing.T) {
	t.Parallel()
	s := setup(t)
	var lines bytes.Buffer
	for i := range 3 {
		fmt.Fprintf(&lines, `{"custom_id":"c%d","body":{"input_type":"search_document","embedding_types":["float"],"inputs":[{"content":[{"type":"text","text":"item %d"}]}]}}`+"\n", i, i)
	}
	fmt.Fprintf(&lines, `{"custom_id":"bad","body":{"texts":["no input type"]}}`+"\n")
	r := upload(t, s, "name=reqs&type=batch-embed-v2-input", "reqs.jsonl", lines.String())
	dsID := r.body["id"].(string)
	poll(t, s, "/v1/datasets/"+dsID, "dataset", "validation_status", "validated")
	r = call(t, s, http.MethodPost, "/v2/batches", map[string]any{"name": "my-batch", "input_dataset_id": dsID, "model": "embed-v4.0"})
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	b := r.body["batch"].(map[string]any)
	if b["status"] != BatchQueued || b["input_tokens"] != "0" || b["num_records"] != float64(4) {
		t.Fatalf("created batch = %v", b)
	}
	got := poll(t, s, "/v2/batches/"+b["id"].(string), "batch", "status", BatchCompleted, BatchFailed)
	want := fixture(t, "batches_get_response.json")["batch"].(map[string]any)
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Fatalf("batch lacks %q: %v", k, got)
		}
	}
	if got["status"] != BatchCompleted || got["num_successful_records"] != float64(3) || got["num_failed_records"] != float64(1) {
		t.Fatalf("batch = %v", got)
	}
	out := poll(t, s, "/v1/datasets/"+got["output_dataset_id"].(string), "dataset", "validation_status", "validated")
	rows := readParts(t, out)
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 3 plus the first repeated", len(rows))
	}
	seen := map[string]int{}
	for _, row := range rows {
		id := row["custom_id"].(string)
		seen[id]++
		var body map[string]any
		if err := json.Unmarshal([]byte(row["body"].(string)), &body); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
		text := "item " + strings.TrimPrefix(id, "c")
		vec := floats(t, body["embeddings"].(map[string]any)["float"].([]any)[0])
		if !slices.Equal(vec, Embedding("embed-v4.0", "search_document", text, 1536)) {
			t.Fatalf("%s: embedding differs", id)
		}
	}
	if seen["c0"] != 2 || seen["c1"] != 1 || seen["c2"] != 1 {
		t.Fatalf("rows per custom_id = %v", seen)
	}
	if st := s.Stats(); st.EmbeddedTexts != 3 || st.UniqueTexts != 3 {
		t.Fatalf("repeated rows were billed: %+v", st)
	}
}

func TestBatchListPagingAndCancel(t *testing.T) {
	t.Parallel()
	s := setup(t, WithAsyncDelays(0, 10*1e9), WithBatchDuplicates(0))
	r := upload(t, s, "name=reqs&type=batch-embed-v2-input", "reqs.jsonl", `{"custom_id":"1","body":{"input_type":"search_document","texts":["x"]}}`)
	dsID := r.body["id"].(string)
	var ids []string
	for i := range 3 {
		r := call(t, s, http.MethodPost, "/v2/batches", map[string]any{"name": fmt.Sprint("b", i), "input_dataset_id": dsID, "model": "embed-v4.0"})
		if r.status != 200 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		ids = append(ids, r.body["batch"].(map[string]any)["id"].(string))
	}
	var listed []string
	token := ""
	for pages := 0; ; pages++ {
		r := call(t, s, http.MethodGet, "/v2/batches?page_size=2&page_token="+token, nil)
		for _, b := range r.body["batches"].([]any) {
			listed = append(listed, b.(map[string]any)["id"].(string))
		}
		next, _ := r.body["next_page_token"].(string)
		if next == "" {
			if pages != 1 {
				t.Fatalf("%d pages, want 2", pages+1)
			}
			break
		}
		token = next
	}
	if !slices.Equal(listed, ids) {
		t.Fatalf("listed %v, want %v", listed, ids)
	}
	if r := call(t, s, http.MethodPost, "/v2/batches/"+ids[0]+":cancel", nil); r.status != 200 {
		t.Fatalf("cancel: %d %s", r.status, r.raw)
	}
	poll(t, s, "/v2/batches/"+ids[0], "batch", "status", BatchCanceled)
	wantError(t, call(t, s, http.MethodPost, "/v2/batches/nope:cancel", nil), 404, "batch with id nope not found")
}

func TestEmbedJobCancelAndPoison(t *testing.T) {
	t.Parallel()
	s := setup(t, WithAsyncDelays(0, 10*1e9), WithPoison("poison"))
	r := upload(t, s, "name=d&type=embed-input", "d.jsonl", "{\"text\":\"fine\"}\n{\"text\":\"poison\"}\n")
	dsID := r.body["id"].(string)
	r = call(t, s, http.MethodPost, "/v1/embed-jobs", map[string]any{"model": "embed-english-v3.0", "dataset_id": dsID, "input_type": "search_document"})
	jobID := r.body["job_id"].(string)
	if r := call(t, s, http.MethodPost, "/v1/embed-jobs/"+jobID+"/cancel", nil); r.status != 200 {
		t.Fatalf("cancel: %d", r.status)
	}
	poll(t, s, "/v1/embed-jobs/"+jobID, "", "status", JobCancelled)

	s.Set(WithAsyncDelays(0, 0))
	r = call(t, s, http.MethodPost, "/v1/embed-jobs", map[string]any{"model": "embed-english-v3.0", "dataset_id": dsID, "input_type": "search_document"})
	poll(t, s, "/v1/embed-jobs/"+r.body["job_id"].(string), "", "status", JobFailed)
	if st := s.Stats(); st.EmbeddedTexts != 0 {
		t.Fatalf("a cancelled or failed job billed texts: %+v", st)
	}
}
