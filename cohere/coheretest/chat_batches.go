package coheretest

import (
	"encoding/json"
	"maps"
	"time"
)

// runChatBatch answers every line of a batch-chat-v2-input dataset as
// /v2/chat answers the line's body, with the same checks, replies, poison
// and bad replies (answerChat).
//
// Output rows are {custom_id, body} as in the batch output record of
// testdata/fixtures/docs_samples/batch_embed_v2_output_record_truncated.txt,
// body being the /v2/chat answer. The API documents no shape for a line
// that fails; the fake writes {custom_id, error} with error the API's own
// error body ({"id", "message"}, testdata/fixtures/error_responses_schema.json),
// so each row carries exactly one of body and error.
func (s *Server) runChatBatch(b *batch, in *dataset) {
	s.mu.Lock()
	if b.status == BatchCanceling || b.status == BatchCanceled {
		b.status, b.updated = BatchCanceled, time.Now().UTC()
		s.mu.Unlock()
		return
	}
	b.status = BatchInProgress
	records := in.records
	s.mu.Unlock()

	fields := []avroField{
		{"custom_id", avroType(`"string"`)},
		{"body", avroType(`["null","string"]`)},
		{"error", avroType(`["null","string"]`)},
	}
	var rows []map[string]any
	var answers []*chatResponse
	okN, failN, inTokens, outTokens := 0, 0, 0, 0
	for _, rec := range records {
		if s.loseLine() {
			failN++
			continue
		}
		row := map[string]any{"custom_id": rec["custom_id"], "body": nil, "error": nil}
		resp, aerr := s.answerChatLine(rec["body"], b.model)
		if aerr != nil {
			e, _ := json.Marshal(errorBody{ID: newUUID(), Message: aerr.msg})
			row["error"] = string(e)
			failN++
		} else {
			body, _ := json.Marshal(resp)
			row["body"] = string(body)
			answers = append(answers, resp)
			inTokens += resp.Usage.BilledUnits.InputTokens
			outTokens += resp.Usage.BilledUnits.OutputTokens
			okN++
		}
		rows = append(rows, row)
		if s.repeatRow(len(rows) == 1) {
			rows = append(rows, row)
		}
	}
	out, err := s.addOutputDataset(b.name+"-output", TypeBatchChatOutput, fields, rows)
	s.mu.Lock()
	b.updated = time.Now().UTC()
	switch {
	case err != nil:
		b.status, b.reason = BatchFailed, err.Error()
	case b.status == BatchCanceling:
		b.status = BatchCanceled
		delete(s.datasets, out.id)
	case okN == 0 && failN > 0:
		b.status, b.reason, b.failed = BatchFailed, "every record failed", failN
		delete(s.datasets, out.id)
	default:
		b.status, b.output, b.ok, b.failed = BatchCompleted, out.id, okN, failN
		b.inputTokens, b.outputTokens = inTokens, outTokens
	}
	done := b.status == BatchCompleted
	s.mu.Unlock()
	if done {
		s.countChat(answers...)
	}
}

// answerChatLine answers one line's body. A body without a model is
// answered by the batch's model, as embed batch lines are (runBatch).
func (s *Server) answerChatLine(body any, model string) (*chatResponse, *apiError) {
	m, _ := body.(map[string]any) // an object, checked at upload
	if _, ok := m["model"]; !ok {
		m = maps.Clone(m)
		if m == nil {
			m = map[string]any{}
		}
		m["model"] = model
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, badRequest("invalid json syntax: %s", err.Error())
	}
	p, aerr := planChat(raw)
	if aerr != nil {
		return nil, aerr
	}
	return s.answerChat(p)
}

// repeatRow decides whether a batch output row is written twice (see
// WithBatchDuplicates); first is true for a batch's first row.
func (s *Server) repeatRow(first bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return (s.cfg.dupRate < 0 && first) || (s.cfg.dupRate > 0 && s.rng.Float64() < s.cfg.dupRate)
}
