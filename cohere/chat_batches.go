package cohere

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Dataset types of bulk chat through the Batches API.
const (
	DatasetBatchChatV2Input  = "batch-chat-v2-input"
	DatasetBatchChatV2Output = "batch-chat-v2-output"
)

// BatchChatWriter writes the lines of a batch-chat-v2-input dataset, one
// JSON object {"custom_id", "body"} per line, body being a /v2/chat
// request: the shape of a batch input line in
// testdata/fixtures/docs_samples/batch_embed_v2_input_line.json. Give its
// output to [Client.CreateDataset] with Type DatasetBatchChatV2Input and a
// .jsonl file name. It buffers: call Flush when done.
type BatchChatWriter struct {
	w    *bufio.Writer
	seen map[string]bool
	n    int
}

// NewBatchChatWriter writes lines to w.
func NewBatchChatWriter(w io.Writer) *BatchChatWriter {
	return &BatchChatWriter{w: bufio.NewWriterSize(w, 64<<10), seen: map[string]bool{}}
}

// batchChatLine is one input line.
type batchChatLine struct {
	CustomID string        `json:"custom_id"`
	Body     batchChatBody `json:"body"`
}

// batchChatBody leaves the model out when the request names none: the
// batch's model then answers the line. Never "stream": batches do not.
type batchChatBody struct {
	*ChatRequest
	Model string `json:"model,omitempty"`
}

// Write adds one line. customID must be non-empty and unique within the
// dataset: the output is joined on it. req is checked as [Client.Chat]
// checks it, except that its Model may be empty.
func (bw *BatchChatWriter) Write(customID string, req *ChatRequest) error {
	if customID == "" {
		return fmt.Errorf("cohere: batch chat line %d: empty custom_id", bw.n+1)
	}
	if bw.seen[customID] {
		return fmt.Errorf("cohere: batch chat line %d: custom_id %q repeated", bw.n+1, customID)
	}
	if req != nil && req.Model == "" {
		named := *req
		named.Model = "the batch's model"
		if err := checkChat(&named); err != nil {
			return fmt.Errorf("cohere: batch chat line %d (custom_id %q): %w", bw.n+1, customID, err)
		}
	} else if err := checkChat(req); err != nil {
		return fmt.Errorf("cohere: batch chat line %d (custom_id %q): %w", bw.n+1, customID, err)
	}
	b, err := json.Marshal(batchChatLine{CustomID: customID, Body: batchChatBody{ChatRequest: req, Model: req.Model}})
	if err != nil {
		return fmt.Errorf("cohere: batch chat line %d (custom_id %q): %w", bw.n+1, customID, err)
	}
	if _, err := bw.w.Write(append(b, '\n')); err != nil {
		return err
	}
	bw.seen[customID] = true
	bw.n++
	return nil
}

// Lines is the number of lines written.
func (bw *BatchChatWriter) Lines() int { return bw.n }

// Flush writes what is buffered.
func (bw *BatchChatWriter) Flush() error { return bw.w.Flush() }

// BatchChatResult is one row of a chat batch's output: the line's
// custom_id and either the /v2/chat answer or the error the line got.
// Outputs may repeat rows and leave lines out: join on CustomID, and treat
// a custom_id without a row as not done.
type BatchChatResult struct {
	CustomID string
	Response *ChatResponse
	Err      *BatchLineError
}

// BatchLineError is the error a batch gave one line, in the API's error
// body shape (testdata/fixtures/error_responses_schema.json).
type BatchLineError struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

func (e *BatchLineError) Error() string { return "cohere batch line: " + e.Message }

// ReadBatchChatOutput reads one part of a chat batch's output dataset (see
// [Client.ReadDatasetPart]) as typed rows. A row must have a custom_id
// and exactly one of body and error; any other row stops the read with an
// error naming the row.
func (c *Client) ReadBatchChatOutput(ctx context.Context, rawURL string, fn func(BatchChatResult) error) error {
	n := 0
	return c.ReadDatasetPart(ctx, rawURL, func(row map[string]any) error {
		n++
		res, err := BatchChatRow(row)
		if err != nil {
			return fmt.Errorf("cohere: batch chat output row %d: %w", n, err)
		}
		return fn(res)
	})
}

// BatchChatRow decodes one output row, as Avro gives it (body and error
// as JSON text) or as JSON (objects).
func BatchChatRow(row map[string]any) (BatchChatResult, error) {
	var res BatchChatResult
	id, _ := row["custom_id"].(string)
	if id == "" {
		return res, errors.New("no custom_id")
	}
	res.CustomID = id
	body, err := rawJSON(row["body"])
	if err != nil {
		return res, fmt.Errorf("custom_id %q: body: %w", id, err)
	}
	fail, err := rawJSON(row["error"])
	if err != nil {
		// Not JSON: the error's text is its message.
		fail, _ = json.Marshal(map[string]any{"message": row["error"]})
	}
	switch {
	case body != nil && fail != nil:
		return res, fmt.Errorf("custom_id %q: both body and error", id)
	case body != nil:
		res.Response = new(ChatResponse)
		if err := json.Unmarshal(body, res.Response); err != nil {
			return res, fmt.Errorf("custom_id %q: body: %w", id, err)
		}
	case fail != nil:
		res.Err = new(BatchLineError)
		if err := json.Unmarshal(fail, res.Err); err != nil {
			// Not the documented error body: keep its text.
			res.Err = &BatchLineError{Message: string(fail)}
		}
	default:
		return res, fmt.Errorf("custom_id %q: neither body nor error", id)
	}
	return res, nil
}

// rawJSON turns a row value into JSON: nil stays nil, text is taken as
// JSON (and must be valid), anything else is encoded.
func rawJSON(v any) (json.RawMessage, error) {
	var b []byte
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return json.Marshal(x)
	}
	if !json.Valid(b) {
		return nil, errors.New("not valid JSON")
	}
	return b, nil
}
