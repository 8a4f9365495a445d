package sinks

import (
	"encoding/json"
	"time"
)

// ChatResult is one record's chat reply: the row a chat job writes.
type ChatResult struct {
	ID     string
	Output string // the reply's text
	// OutputJSON is the parsed reply of a structured-output job (validated
	// against its schema); nil otherwise, or when the reply was cut short.
	OutputJSON json.RawMessage
	// FinishReason is the API's: COMPLETE, or MAX_TOKENS for a reply cut
	// at the job's -max-tokens.
	FinishReason string
	InputTokens  int // billed
	OutputTokens int // billed
	Model        string
	// Fingerprint identifies what besides the record decides the reply
	// (model, prompt template, system prompt, schema, sampling).
	Fingerprint string
	// ContentSHA256 is the hash of the rendered prompt: it covers every
	// field of the record the template reads.
	ContentSHA256 [32]byte
	Metadata      json.RawMessage // a JSON object, or nil
	// Prompt is the rendered prompt, kept only when the job asks for it.
	Prompt      string
	GeneratedAt time.Time
}
