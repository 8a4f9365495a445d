package coheretest

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Embed job statuses, as the API spells them.
const (
	JobProcessing = "processing"
	JobComplete   = "complete"
	JobFailed     = "failed"
	JobCancelling = "cancelling"
	JobCancelled  = "cancelled"
)

type embedJob struct {
	id, name, status   string
	model, inputType   string
	truncate           string
	types              []string
	created            time.Time
	input, output      string
	seq                int64
	billedInputTokens  int
	failureExplanation string
}

type embedJobJSON struct {
	JobID           string `json:"job_id"`
	Name            string `json:"name,omitempty"`
	Status          string `json:"status"`
	CreatedAt       string `json:"created_at"`
	InputDatasetID  string `json:"input_dataset_id"`
	OutputDatasetID string `json:"output_dataset_id,omitempty"`
	Model           string `json:"model"`
	Truncate        string `json:"truncate"`
	Meta            *meta  `json:"meta,omitempty"`
}

func (j *embedJob) view(withMeta bool) embedJobJSON {
	v := embedJobJSON{
		JobID: j.id, Name: j.name, Status: j.status, CreatedAt: timestamp(j.created),
		InputDatasetID: j.input, OutputDatasetID: j.output, Model: j.model, Truncate: j.truncate,
	}
	if withMeta {
		m := v1Meta(nil)
		if j.billedInputTokens > 0 {
			m.BilledUnits = &billedUnits{InputTokens: j.billedInputTokens}
		}
		v.Meta = &m
	}
	return v
}

func (s *Server) handleEmbedJobCreate(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Model          string   `json:"model"`
		DatasetID      string   `json:"dataset_id"`
		InputType      string   `json:"input_type"`
		Name           string   `json:"name"`
		EmbeddingTypes []string `json:"embedding_types"`
		Truncate       string   `json:"truncate"`
	}
	if err := decodeBody(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid json syntax: "+err.Error())
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "a model parameter is required for this endpoint.")
		return
	}
	if known, serves := modelServes(req.Model, "embed-jobs"); !known {
		writeError(w, http.StatusNotFound, modelNotFound(req.Model))
		return
	} else if !serves {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: model '%s' is not supported by the embed jobs API", req.Model))
		return
	}
	if !slices.Contains(inputTypes, req.InputType) || req.InputType == "image" {
		writeError(w, http.StatusBadRequest, "invalid request: valid input_type must be provided with the provided model")
		return
	}
	for _, t := range req.EmbeddingTypes {
		if !slices.Contains([]string{"float", "int8", "uint8", "binary", "ubinary"}, t) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: embedding_types contains an invalid value '%s'", t))
			return
		}
	}
	switch req.Truncate {
	case "":
		req.Truncate = "END"
	case "START", "END":
	default:
		writeError(w, http.StatusBadRequest, "invalid request: truncate must be one of START or END")
		return
	}
	if req.DatasetID == "" {
		writeError(w, http.StatusBadRequest, "invalid request: dataset_id is required")
		return
	}
	d, ok := s.validatedInput(w, req.DatasetID, TypeEmbedInput, "embed jobs")
	if !ok {
		return
	}
	if !s.admit(w, "embed-jobs", 1) {
		return
	}
	j := &embedJob{
		id: newUUID(), name: req.Name, status: JobProcessing, model: req.Model, inputType: req.InputType,
		truncate: req.Truncate, types: req.EmbeddingTypes, created: time.Now().UTC(), input: req.DatasetID,
	}
	s.mu.Lock()
	s.order++
	j.seq = s.order
	s.jobs[j.id] = j
	delay := s.cfg.processDelay
	s.mu.Unlock()
	s.after(delay, func() { s.runEmbedJob(j, d) })
	writeJSON(w, http.StatusOK, map[string]any{"job_id": j.id, "meta": v1Meta(nil)})
}

// runEmbedJob embeds the whole input dataset into an embed-result dataset.
func (s *Server) runEmbedJob(j *embedJob, in *dataset) {
	s.mu.Lock()
	if j.status != JobProcessing {
		if j.status == JobCancelling {
			j.status = JobCancelled
		}
		s.mu.Unlock()
		return
	}
	records, preserve := in.records, in.preserve
	s.mu.Unlock()

	texts := make([]string, len(records))
	for i, rec := range records {
		texts[i], _ = rec["text"].(string)
	}
	if i := s.poisoned(texts); i >= 0 {
		s.mu.Lock()
		j.status = JobFailed
		s.mu.Unlock()
		return
	}
	types := j.types
	if len(types) == 0 {
		types = []string{"float"}
	}
	m, _ := findModel(j.model)
	dims := Dims(j.model, 0)
	kept := inferFields(preserve, records)
	fields := append([]avroField{
		{"text", avroType(`"string"`)},
		{"embeddings", avroType(embeddingsAvroType)},
	}, kept...)
	rows := make([]map[string]any, len(records))
	tokens := 0
	for i, t := range texts {
		n := Tokens(t)
		if limit := int(m.ContextLength); n > limit {
			t, n = truncateTokens(t, limit, j.truncate), limit
		}
		tokens += n
		v := Embedding(j.model, j.inputType, t, dims)
		emb := map[string]any{"float": nil, "int8": nil, "uint8": nil, "binary": nil, "ubinary": nil}
		for _, typ := range types {
			switch typ {
			case "float":
				emb["float"] = v
			case "int8":
				emb["int8"] = toInts(Int8(v))
			case "uint8":
				emb["uint8"] = toInts(Uint8(v))
			case "binary":
				emb["binary"] = toInts(Binary(v))
			case "ubinary":
				emb["ubinary"] = toInts(Ubinary(v))
			}
		}
		row := map[string]any{"text": texts[i], "embeddings": emb}
		for _, f := range kept {
			row[f.Name] = avroValue(records[i][f.Name], f.Type)
		}
		rows[i] = row
	}
	out, err := s.addOutputDataset("embeded-"+in.name, TypeEmbedResult, fields, rows)
	s.mu.Lock()
	switch {
	case err != nil:
		j.status, j.failureExplanation = JobFailed, err.Error()
	case j.status == JobCancelling:
		j.status = JobCancelled
		delete(s.datasets, out.id)
	default:
		j.status, j.output, j.billedInputTokens = JobComplete, out.id, tokens
	}
	complete := j.status == JobComplete
	s.mu.Unlock()
	if complete {
		s.recordEmbeds(texts, tokens, false)
	}
}

func (s *Server) handleEmbedJobGet(w http.ResponseWriter, r *http.Request, _ []byte) {
	if !s.admit(w, "embed-jobs", 1) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	j, ok := s.jobs[id]
	var v embedJobJSON
	if ok {
		v = j.view(true)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("embed job with id %s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleEmbedJobList(w http.ResponseWriter, r *http.Request, _ []byte) {
	if !s.admit(w, "embed-jobs", 1) {
		return
	}
	s.mu.Lock()
	jobs := make([]*embedJob, 0, len(s.jobs))
	for _, j := range s.jobs {
		jobs = append(jobs, j)
	}
	slices.SortFunc(jobs, func(a, b *embedJob) int { return int(a.seq - b.seq) })
	out := make([]embedJobJSON, len(jobs))
	for i, j := range jobs {
		out[i] = j.view(false)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"embed_jobs": out})
}

func (s *Server) handleEmbedJobCancel(w http.ResponseWriter, r *http.Request, _ []byte) {
	if !s.admit(w, "embed-jobs", 1) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	j, ok := s.jobs[id]
	cancelling := ok && j.status == JobProcessing
	if cancelling {
		j.status = JobCancelling
	}
	delay := min(s.cfg.processDelay/4, DefaultProcessDelay) // cancelling is brief
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("embed job with id %s not found", id))
		return
	}
	if cancelling {
		s.after(delay, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if j.status == JobCancelling {
				j.status = JobCancelled
			}
		})
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// validatedInput returns the input dataset a remote job names, or answers as
// Cohere does when it is missing, of the wrong type or not validated yet.
func (s *Server) validatedInput(w http.ResponseWriter, id, typ, what string) (*dataset, bool) {
	s.mu.Lock()
	d, ok := s.datasets[id]
	var dtyp, dstatus string
	if ok {
		dtyp, dstatus = d.typ, d.status
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, fmt.Sprintf("dataset with id %s not found", id))
	case dtyp != typ:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: dataset %s is of type %s, %s need %s", id, dtyp, what, typ))
	case dstatus != statusValidated:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: dataset %s is not validated (status %s)", id, dstatus))
	default:
		return d, true
	}
	return nil, false
}
