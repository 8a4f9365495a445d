package coheretest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Batch statuses, as the API spells them.
const (
	BatchQueued     = "BATCH_STATUS_QUEUED"
	BatchInProgress = "BATCH_STATUS_IN_PROGRESS"
	BatchCanceling  = "BATCH_STATUS_CANCELING"
	BatchCompleted  = "BATCH_STATUS_COMPLETED"
	BatchFailed     = "BATCH_STATUS_FAILED"
	BatchCanceled   = "BATCH_STATUS_CANCELED"
)

type batch struct {
	id, name, status, model string
	input, output, reason   string
	created, updated        time.Time
	records, ok, failed     int
	inputTokens             int
	outputTokens            int
	seq                     int64
}

// batchJSON follows the fixtures: int64 token counts are JSON strings.
type batchJSON struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	CreatorID            string `json:"creator_id"`
	OrgID                string `json:"org_id"`
	Status               string `json:"status"`
	CreatedAt            string `json:"created_at"`
	UpdatedAt            string `json:"updated_at"`
	InputDatasetID       string `json:"input_dataset_id"`
	OutputDatasetID      string `json:"output_dataset_id,omitempty"`
	InputTokens          string `json:"input_tokens"`
	OutputTokens         string `json:"output_tokens"`
	Model                string `json:"model"`
	NumRecords           int    `json:"num_records"`
	NumSuccessfulRecords int    `json:"num_successful_records"`
	NumFailedRecords     int    `json:"num_failed_records"`
	StatusReason         string `json:"status_reason,omitempty"`
}

func (b *batch) view() batchJSON {
	return batchJSON{
		ID: b.id, Name: b.name, CreatorID: ownerID, OrgID: orgID, Status: b.status,
		CreatedAt: timestamp(b.created), UpdatedAt: timestamp(b.updated),
		InputDatasetID: b.input, OutputDatasetID: b.output,
		InputTokens: strconv.Itoa(b.inputTokens), OutputTokens: strconv.Itoa(b.outputTokens), Model: b.model,
		NumRecords: b.records, NumSuccessfulRecords: b.ok, NumFailedRecords: b.failed,
		StatusReason: b.reason,
	}
}

func (s *Server) handleBatchCreate(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Name           string `json:"name"`
		InputDatasetID string `json:"input_dataset_id"`
		Model          string `json:"model"`
	}
	if err := decodeBody(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid json syntax: "+err.Error())
		return
	}
	switch {
	case req.Name == "":
		writeError(w, http.StatusBadRequest, "invalid request: name is required")
		return
	case req.InputDatasetID == "":
		writeError(w, http.StatusBadRequest, "invalid request: input_dataset_id is required")
		return
	case req.Model == "":
		writeError(w, http.StatusBadRequest, "a model parameter is required for this endpoint.")
		return
	}
	inputType := TypeBatchEmbedInput
	if known, serves := modelServes(req.Model, "batches"); !known {
		writeError(w, http.StatusNotFound, modelNotFound(req.Model))
		return
	} else if !serves {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: model '%s' is not supported by the batches API", req.Model))
		return
	} else if _, chat := modelServes(req.Model, "chat"); chat {
		inputType = TypeBatchChatInput
	}
	d, ok := s.validatedInput(w, req.InputDatasetID, inputType, "batches")
	if !ok {
		return
	}
	if !s.admit(w, "batches", 1) {
		return
	}
	now := time.Now().UTC()
	b := &batch{
		id: newUUID(), name: req.Name, status: BatchQueued, model: req.Model,
		input: req.InputDatasetID, created: now, updated: now, records: len(d.records),
	}
	s.mu.Lock()
	s.order++
	b.seq = s.order
	s.batches[b.id] = b
	delay := s.cfg.processDelay
	v := b.view()
	s.mu.Unlock()
	s.after(delay/2, func() { s.setBatchStatus(b, BatchQueued, BatchInProgress) })
	if inputType == TypeBatchChatInput {
		s.after(delay, func() { s.runChatBatch(b, d) })
	} else {
		s.after(delay, func() { s.runBatch(b, d) })
	}
	writeJSON(w, http.StatusOK, map[string]any{"batch": v})
}

func (s *Server) setBatchStatus(b *batch, from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.status == from {
		b.status, b.updated = to, time.Now().UTC()
	}
}

// runBatch answers every line of the input as /v2/embed would, writing
// {custom_id, body} rows, some of them twice (see WithBatchDuplicates).
func (s *Server) runBatch(b *batch, in *dataset) {
	s.mu.Lock()
	if b.status == BatchCanceling || b.status == BatchCanceled {
		b.status, b.updated = BatchCanceled, time.Now().UTC()
		s.mu.Unlock()
		return
	}
	b.status = BatchInProgress
	records := in.records
	s.mu.Unlock()

	fields := []avroField{{"custom_id", avroType(`"string"`)}, {"body", avroType(`"string"`)}}
	var rows []map[string]any
	var embedded []string
	okN, failN, tokens := 0, 0, 0
	for _, rec := range records {
		raw, _ := json.Marshal(rec["body"])
		var req embedRequest
		json.Unmarshal(raw, &req) //nolint:errcheck // validated as an object at upload
		if req.Model == "" {
			req.Model = b.model
			if twin, ok := batchTwins[b.model]; ok {
				req.Model = twin
			}
		}
		p, aerr := planEmbed(req, true)
		if aerr != nil || s.poisoned(p.texts) >= 0 || s.loseLine() {
			failN++
			continue
		}
		resp, _ := json.Marshal(embedByTypeResponse{
			ID: newUUID(), Texts: p.texts, Embeddings: p.embeddings(),
			Meta: v2Meta(&billedUnits{InputTokens: p.tokens}),
		})
		row := map[string]any{"custom_id": rec["custom_id"], "body": string(resp)}
		rows = append(rows, row)
		if s.repeatRow(len(rows) == 1) {
			rows = append(rows, row)
		}
		okN++
		tokens += p.tokens
		embedded = append(embedded, p.texts...)
	}
	out, err := s.addOutputDataset(b.name+"-output", TypeBatchEmbedOutput, fields, rows)
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
		b.status, b.output, b.ok, b.failed, b.inputTokens = BatchCompleted, out.id, okN, failN, tokens
	}
	done := b.status == BatchCompleted
	s.mu.Unlock()
	if done {
		s.recordEmbeds(embedded, tokens, false)
	}
}

func (s *Server) handleBatchGet(w http.ResponseWriter, r *http.Request, _ []byte) {
	if !s.admit(w, "batches", 1) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	b, ok := s.batches[id]
	var v batchJSON
	if ok {
		v = b.view()
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("batch with id %s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"batch": v})
}

func (s *Server) handleBatchList(w http.ResponseWriter, r *http.Request, _ []byte) {
	if !s.admit(w, "batches", 1) {
		return
	}
	q := r.URL.Query()
	size := 50
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "invalid request: page_size must be a positive integer")
			return
		}
		if n > 0 {
			size = min(n, 1000)
		}
	}
	s.mu.Lock()
	all := make([]*batch, 0, len(s.batches))
	for _, b := range s.batches {
		all = append(all, b)
	}
	slices.SortFunc(all, func(a, b *batch) int { return int(a.seq - b.seq) })
	start, next := page(len(all), size, q.Get("page_token"))
	out := []batchJSON{}
	for _, b := range all[start:min(len(all), start+size)] {
		out = append(out, b.view())
	}
	s.mu.Unlock()
	resp := map[string]any{"batches": out}
	if next != "" {
		resp["next_page_token"] = next
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleBatchCancel(w http.ResponseWriter, r *http.Request, _ []byte) {
	id, ok := strings.CutSuffix(r.PathValue("idcancel"), ":cancel")
	if !ok {
		writeError(w, http.StatusNotFound, "404 page not found")
		return
	}
	if !s.admit(w, "batches", 1) {
		return
	}
	s.mu.Lock()
	b, found := s.batches[id]
	canceling := found && (b.status == BatchQueued || b.status == BatchInProgress)
	if canceling {
		b.status, b.updated = BatchCanceling, time.Now().UTC()
	}
	delay := min(s.cfg.processDelay/4, DefaultProcessDelay) // cancelling is brief
	s.mu.Unlock()
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("batch with id %s not found", id))
		return
	}
	if canceling {
		s.after(delay, func() { s.setBatchStatus(b, BatchCanceling, BatchCanceled) })
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
