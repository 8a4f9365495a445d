package pgvector

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/sinks"
)

// KindChat is the table kind of a chat job: one reply per record id.
const KindChat = "chat"

// chatTable holds one reply per record id. output_json is the parsed reply
// of a structured-output job; prompt is filled only with -store-prompt.
var chatTable = resultTable{
	cols: []column{
		{name: "id", typ: "text"},
		{name: "output", typ: "text"},
		{name: "output_json", typ: "jsonb"},
		{name: "finish_reason", typ: "text"},
		{name: "input_tokens", typ: "integer"},
		{name: "output_tokens", typ: "integer"},
		{name: "model", typ: "text"},
		{name: "fingerprint", typ: "text"},
		{name: "content_sha256", typ: "bytea"},
		{name: "metadata", typ: "jsonb"},
		{name: "prompt", typ: "text"},
		{name: "generated_at", typ: "timestamp with time zone"},
	},
	key: []string{"id"},
}

// jsonText is a JSON value as a nullable text parameter.
func jsonText(b []byte) *string {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	s := string(b)
	return &s
}

// upsertChats writes replies keyed by id, rewriting only rows whose reply,
// fingerprint or content changed. It returns the number of records.
func (w *Writer) upsertChats(ctx context.Context, tx pgx.Tx, in []sinks.ChatResult) (int, error) {
	rows, err := lastByID(in, func(r sinks.ChatResult) string { return r.ID }, "chat reply")
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}
	n := len(rows)
	ids, outs, jsons, finish := make([]string, n), make([]string, n), make([]*string, n), make([]string, n)
	tin, tout, models, fps := make([]int32, n), make([]int32, n), make([]string, n), make([]string, n)
	shas, metas, prompts, ats := make([][]byte, n), make([]*string, n), make([]*string, n), make([]time.Time, n)
	now := time.Now()
	for i, r := range rows {
		ids[i], outs[i], jsons[i], finish[i] = r.ID, r.Output, jsonText(r.OutputJSON), r.FinishReason
		tin[i], tout[i], models[i], fps[i] = int32(r.InputTokens), int32(r.OutputTokens), r.Model, r.Fingerprint
		shas[i], metas[i] = r.ContentSHA256[:], jsonText(r.Metadata)
		if r.Prompt != "" {
			p := r.Prompt
			prompts[i] = &p
		}
		ats[i] = r.GeneratedAt
		if ats[i].IsZero() {
			ats[i] = now
		}
	}
	_, err = tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s AS t (id, output, output_json, finish_reason, input_tokens, output_tokens,
			model, fingerprint, content_sha256, metadata, prompt, generated_at)
		SELECT u.id, u.output, u.oj::jsonb, u.finish, u.tin, u.tout, u.model, u.fp, u.sha, u.metadata::jsonb, u.prompt, u.at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[], $8::text[],
			$9::bytea[], $10::text[], $11::text[], $12::timestamptz[])
			AS u(id, output, oj, finish, tin, tout, model, fp, sha, metadata, prompt, at)
		ON CONFLICT (id) DO UPDATE SET output = EXCLUDED.output, output_json = EXCLUDED.output_json,
			finish_reason = EXCLUDED.finish_reason, input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
			model = EXCLUDED.model, fingerprint = EXCLUDED.fingerprint, content_sha256 = EXCLUDED.content_sha256,
			metadata = EXCLUDED.metadata, prompt = EXCLUDED.prompt, generated_at = EXCLUDED.generated_at
		WHERE (t.output, t.output_json, t.finish_reason, t.model, t.fingerprint, t.content_sha256, t.metadata, t.prompt)
			IS DISTINCT FROM (EXCLUDED.output, EXCLUDED.output_json, EXCLUDED.finish_reason, EXCLUDED.model,
				EXCLUDED.fingerprint, EXCLUDED.content_sha256, EXCLUDED.metadata, EXCLUDED.prompt)`, w.table.Sanitize()),
		ids, outs, jsons, finish, tin, tout, models, fps, shas, metas, prompts, ats)
	if err != nil {
		return 0, fmt.Errorf("upsert: %w", err)
	}
	return n, nil
}
