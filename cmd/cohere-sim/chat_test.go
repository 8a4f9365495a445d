package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/cohere/schema"
)

// TestSimChat runs the binary with a chat rate limit and a bad-reply text and
// checks what a bulk chat job meets: a schema-valid reply, a reply that
// breaks the schema, MAX_TOKENS, and the 429 past the limit.
func TestSimChat(t *testing.T) {
	t.Parallel()
	bin := buildSim(t)
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-rate-limit", "chat=3/1h", "-chat-bad-reply", "BROKEN")
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

	const labels = `{"type":"object","properties":{"label":{"type":"string","enum":["positive","negative"]}},"required":["label"]}`
	ask := func(text string, maxTokens int) (int, map[string]any) {
		body := map[string]any{
			"model":           "command-a-03-2025",
			"messages":        []any{map[string]any{"role": "system", "content": "Label the review."}, map[string]any{"role": "user", "content": text}},
			"response_format": map[string]any{"type": "json_object", "json_schema": json.RawMessage(labels)},
		}
		if maxTokens > 0 {
			body["max_tokens"] = maxTokens
		}
		return post(t, base+"/v2/chat", "test-key", body)
	}
	replyOf := func(m map[string]any) string {
		return m["message"].(map[string]any)["content"].([]any)[0].(map[string]any)["text"].(string)
	}

	status, m := ask("a negative review", 0)
	if status != 200 || replyOf(m) != `{"label":"negative"}` || m["finish_reason"] != "COMPLETE" {
		t.Fatalf("valid reply: %d %v", status, m)
	}
	status, m = ask("a BROKEN review", 0)
	if status != 200 || schema.Validate([]byte(labels), []byte(replyOf(m))) == nil {
		t.Fatalf("bad reply: %d %v", status, m)
	}
	status, m = ask("a positive review", 2)
	if status != 200 || m["finish_reason"] != "MAX_TOKENS" || replyOf(m) != `{"label"` {
		t.Fatalf("max tokens: %d %v", status, m)
	}
	if status, m = ask("one too many", 0); status != 429 {
		t.Fatalf("past the limit: %d %v", status, m)
	}

	resp, err := http.Get(base + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats struct {
		ChatReplies        int `json:"chat_replies"`
		ChatMaxTokens      int `json:"chat_max_tokens"`
		ChatBadReplies     int `json:"chat_bad_replies"`
		RateLimited        int `json:"rate_limited"`
		BilledOutputTokens int `json:"billed_output_tokens"`
	}
	json.NewDecoder(resp.Body).Decode(&stats) //nolint:errcheck // checked below
	if stats.ChatReplies != 3 || stats.ChatMaxTokens != 1 || stats.ChatBadReplies != 1 || stats.RateLimited != 1 || stats.BilledOutputTokens == 0 {
		t.Errorf("stats = %+v", stats)
	}
}

func TestHelpDocumentsChatFlags(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	run(t.Context(), []string{"-h"}, io.Discard, &out) //nolint:errcheck // flag.ErrHelp
	for _, want := range []string{"  -chat-bad-reply ", "  -chat-bad-reply-rate ", "chat=500/1m", "groups: embed, chat,"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h lacks %q", want)
		}
	}
}
