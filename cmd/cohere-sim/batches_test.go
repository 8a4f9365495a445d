package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere"
)

// TestSimChatBatchWithLostCreates runs a chat batch through the binary
// when every create answer is lost and some lines are: the client finds
// the dataset and the batch by name, nothing is created twice, and every
// line has either one answer or is counted lost.
func TestSimChatBatchWithLostCreates(t *testing.T) {
	t.Parallel()
	bin := buildSim(t)
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-validate-delay", "0s", "-process-delay", "0s",
		"-lost-create-rate", "1", "-lost-create-status", "504", "-batch-lost-rate", "0.25", "-batch-dup-rate", "0.5", "-seed", "3")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) //nolint:errcheck // best effort at the end
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "cohere-sim listening on "))
	c, err := cohere.New(cohere.Config{BaseURL: base, APIKey: "test-key"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	const n = 30
	var buf bytes.Buffer
	w := cohere.NewBatchChatWriter(&buf)
	for i := range n {
		if err := w.Write(fmt.Sprint("r", i), &cohere.ChatRequest{Messages: []cohere.ChatMessage{cohere.UserMessage(fmt.Sprint("Summarise record ", i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateDataset(ctx, cohere.DatasetCreateParams{Name: "job-1-g0", Type: cohere.DatasetBatchChatV2Input}, bytes.NewReader(buf.Bytes()), "g0.jsonl"); err == nil {
		t.Fatal("create dataset: the answer was not lost")
	}
	var ds *cohere.Dataset
	until(t, func() bool {
		ds, err = c.FindDataset(ctx, "job-1-g0", cohere.DatasetBatchChatV2Input)
		if err != nil || ds == nil {
			t.Fatalf("find dataset: %v %v", ds, err)
		}
		return ds.ValidationStatus == cohere.DatasetValidated
	})
	if _, err := c.CreateBatch(ctx, &cohere.CreateBatchRequest{Name: "job-1-g0", InputDatasetID: ds.ID, Model: "command-a-03-2025"}); err == nil {
		t.Fatal("create batch: the answer was not lost")
	}
	var b *cohere.Batch
	until(t, func() bool {
		b, err = c.FindBatch(ctx, "job-1-g0")
		if err != nil || b == nil {
			t.Fatalf("find batch: %v %v", b, err)
		}
		return b.Status == cohere.BatchStatusCompleted
	})
	out, err := c.GetDataset(ctx, b.OutputDatasetID)
	if err != nil {
		t.Fatal(err)
	}
	answered := map[string]int{}
	rows := 0
	for _, p := range out.DatasetParts {
		if err := c.ReadBatchChatOutput(ctx, p.URL, func(r cohere.BatchChatResult) error {
			if r.Response == nil || !strings.HasPrefix(r.Response.Text(), "Re: Summarise record "+strings.TrimPrefix(r.CustomID, "r")+" [") {
				return fmt.Errorf("row %+v", r)
			}
			answered[r.CustomID]++
			rows++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	resp, err := http.Get(base + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Calls       map[string]int `json:"calls"`
		Created     map[string]int `json:"created"`
		LostCreates int            `json:"lost_creates"`
		LostLines   int            `json:"lost_lines"`
		ChatReplies int            `json:"chat_replies"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Created["POST /v1/datasets"] != 1 || st.Created["POST /v2/batches"] != 1 || st.Calls["POST /v2/batches"] != 1 || st.LostCreates != 2 {
		t.Errorf("creates: %+v", st)
	}
	if st.LostLines == 0 || len(answered)+st.LostLines != n || int(b.NumFailedRecords) != st.LostLines ||
		st.ChatReplies != len(answered) || rows <= len(answered) {
		t.Errorf("%d rows, %d answered; batch %+v; stats %+v", rows, len(answered), b, st)
	}
}

func until(t *testing.T, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHelpDocumentsBatchFaultFlags(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-h"}, io.Discard, &out); err == nil {
		t.Fatal("-h returned nil, want flag.ErrHelp")
	}
	for _, f := range []string{"-batch-lost-rate", "-lost-create-rate", "-lost-create-status"} {
		if !strings.Contains(out.String(), "  "+f+" ") {
			t.Errorf("-h does not document %s", f)
		}
	}
}
