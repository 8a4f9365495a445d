package coheretest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestBatchWithBatchModel runs a batch the way the pipeline creates one:
// lines without a model, the batch naming batch-embed-v4, whose lines are
// answered by embed-v4.0.
func TestBatchWithBatchModel(t *testing.T) {
	t.Parallel()
	s := setup(t, WithBatchDuplicates(0))
	var lines strings.Builder
	for i := range 3 {
		fmt.Fprintf(&lines, `{"custom_id":"r%d","body":{"texts":["verse %d"],"input_type":"search_document","embedding_types":["float"],"output_dimension":256}}`+"\n", i, i)
	}
	dsID := upload(t, s, "name=verses&type=batch-embed-v2-input", "verses.jsonl", lines.String()).body["id"].(string)
	poll(t, s, "/v1/datasets/"+dsID, "dataset", "validation_status", "validated")
	r := call(t, s, http.MethodPost, "/v2/batches", map[string]any{"name": "verses", "input_dataset_id": dsID, "model": "batch-embed-v4"})
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	got := poll(t, s, "/v2/batches/"+r.body["batch"].(map[string]any)["id"].(string), "batch", "status", BatchCompleted, BatchFailed)
	if got["status"] != BatchCompleted || got["num_successful_records"] != float64(3) || got["model"] != "batch-embed-v4" {
		t.Fatalf("batch = %v", got)
	}
	rows := readParts(t, poll(t, s, "/v1/datasets/"+got["output_dataset_id"].(string), "dataset", "validation_status", "validated"))
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, row := range rows {
		var body map[string]any
		if err := json.Unmarshal([]byte(row["body"].(string)), &body); err != nil {
			t.Fatal(err)
		}
		text := "verse " + strings.TrimPrefix(row["custom_id"].(string), "r")
		if vec := floats(t, body["embeddings"].(map[string]any)["float"].([]any)[0]); !slices.Equal(vec, Embedding("embed-v4.0", "search_document", text, 256)) {
			t.Errorf("%s: not embed-v4.0's 256-dim vector of %q", row["custom_id"], text)
		}
	}
}
