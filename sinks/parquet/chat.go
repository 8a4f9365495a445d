package parquet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"time"

	"github.com/cobatch/cobatch/sinks"
)

// chatRow is the row of a chat part file. output_json is the parsed reply
// as JSON text in a plain string column (empty without -json-schema), as
// classify's labels are: every engine reads it, DuckDB's json functions
// take it from there.
type chatRow struct {
	ID            string `parquet:"id"`
	Output        string `parquet:"output"`
	OutputJSON    string `parquet:"output_json,optional"`
	FinishReason  string `parquet:"finish_reason,dict"`
	InputTokens   int32  `parquet:"input_tokens"`
	OutputTokens  int32  `parquet:"output_tokens"`
	Model         string `parquet:"model,dict"`
	Fingerprint   string `parquet:"fingerprint,dict"`
	ContentSHA256 string `parquet:"content_sha256"`
	Metadata      string `parquet:"metadata,optional"`
	Prompt        string `parquet:"prompt,optional"`
	GeneratedAt   int64  `parquet:"generated_at,timestamp(microsecond)"`
}

func toChatRow(c *sinks.ChatResult) chatRow {
	return chatRow{
		ID: c.ID, Output: c.Output, OutputJSON: metadataString(c.OutputJSON), FinishReason: c.FinishReason,
		InputTokens: int32(c.InputTokens), OutputTokens: int32(c.OutputTokens), Model: c.Model,
		Fingerprint: c.Fingerprint, ContentSHA256: hex.EncodeToString(c.ContentSHA256[:]),
		Metadata: metadataString(c.Metadata), Prompt: c.Prompt, GeneratedAt: c.GeneratedAt.UnixMicro(),
	}
}

func (r *chatRow) chat() (sinks.ChatResult, error) {
	c := sinks.ChatResult{
		ID: r.ID, Output: r.Output, FinishReason: r.FinishReason, InputTokens: int(r.InputTokens),
		OutputTokens: int(r.OutputTokens), Model: r.Model, Fingerprint: r.Fingerprint, Prompt: r.Prompt,
		GeneratedAt: time.UnixMicro(r.GeneratedAt).UTC(),
	}
	if r.OutputJSON != "" {
		c.OutputJSON = json.RawMessage(r.OutputJSON)
	}
	if r.Metadata != "" {
		c.Metadata = json.RawMessage(r.Metadata)
	}
	return c, decodeSHA256(&c.ContentSHA256, []byte(r.ContentSHA256))
}

// writeChats writes a chat chunk's part: this run's replies plus the kept
// ones carried over from the previous part, as for classifications.
func (w *Writer) writeChats(ctx context.Context, dir string, c *sinks.Chunk) error {
	return writeCarried(dir, c, c.Chats, func(r *sinks.ChatResult) string { return r.ID }, readChats,
		func(f io.Writer, rows []sinks.ChatResult) error {
			out := make([]chatRow, len(rows))
			for i := range rows {
				out[i] = toChatRow(&rows[i])
			}
			return writeStructs(ctx, f, out, w.opts)
		})
}

// readChats calls fn with every row of a chat part.
var readChats = readAs((*chatRow).chat)

// ReadChats calls fn with every row of every part of a chat job under dir,
// parts in chunk order.
func ReadChats(dir, job string, fn func(sinks.ChatResult) error) error {
	return readJob(dir, job, func(part string) error { return readChats(part, fn) })
}
