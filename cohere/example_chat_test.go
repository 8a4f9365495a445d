package cohere_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/schema"
)

func ExampleClient_Chat() {
	// A stand-in for api.cohere.com that answers like /v2/chat.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"id":"c1","finish_reason":"COMPLETE",
			"message":{"role":"assistant","content":[{"type":"text","text":"{\"label\":\"spam\"}"}]},
			"usage":{"billed_units":{"input_tokens":21,"output_tokens":6},"tokens":{"input_tokens":90,"output_tokens":6}}}`)
	}))
	defer srv.Close()

	client, err := cohere.New(cohere.Config{BaseURL: srv.URL, APIKey: "my-key"})
	if err != nil {
		log.Fatal(err)
	}
	labels := json.RawMessage(`{"type":"object","properties":{"label":{"type":"string","enum":["spam","not spam"]}},"required":["label"]}`)
	temperature := 0.0
	resp, err := client.Chat(context.Background(), &cohere.ChatRequest{
		Model: "command-a-03-2025",
		Messages: []cohere.ChatMessage{
			cohere.SystemMessage("Label the message as spam or not spam. Answer in JSON."),
			cohere.UserMessage("WIN a FREE cruise, click now"),
		},
		Temperature:    &temperature,
		MaxTokens:      50,
		ResponseFormat: &cohere.ResponseFormat{Type: cohere.ResponseFormatJSONObject, JSONSchema: labels},
	})
	if err != nil {
		log.Fatal(err)
	}
	if resp.FinishReason == cohere.FinishMaxTokens {
		log.Fatal("reply cut short: raise MaxTokens")
	}
	if err := schema.Validate(labels, []byte(resp.Text())); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Text())
	fmt.Println("billed:", resp.Usage.BilledUnits.InputTokens, "in,", resp.Usage.BilledUnits.OutputTokens, "out")
	// Output:
	// {"label":"spam"}
	// billed: 21 in, 6 out
}
