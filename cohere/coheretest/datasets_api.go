package coheretest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

type datasetPartJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	Index     int    `json:"index"`
	SizeBytes int    `json:"size_bytes"`
	NumRows   int    `json:"num_rows"`
}

type datasetJSON struct {
	ID                 string            `json:"id"`
	Name               string            `json:"name"`
	CreatedAt          string            `json:"created_at"`
	UpdatedAt          string            `json:"updated_at"`
	DatasetType        string            `json:"dataset_type"`
	ValidationStatus   string            `json:"validation_status"`
	ValidationError    string            `json:"validation_error,omitempty"`
	Schema             string            `json:"schema"`
	RequiredFields     []string          `json:"required_fields"`
	PreserveFields     []string          `json:"preserve_fields"`
	DatasetParts       []datasetPartJSON `json:"dataset_parts"`
	ValidationWarnings []string          `json:"validation_warnings"`
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// baseURL is where this request reached the server, so part URLs work both
// in-process and behind cmd/cohere-sim's own listener.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// datasetView renders d; the caller holds s.mu.
func datasetView(d *dataset, base string) datasetJSON {
	v := datasetJSON{
		ID: d.id, Name: d.name, CreatedAt: timestamp(d.created), UpdatedAt: timestamp(d.updated),
		DatasetType: d.typ, ValidationStatus: d.status, ValidationError: d.validationErr, Schema: d.schema,
		RequiredFields: d.required, PreserveFields: d.preserve,
		DatasetParts: []datasetPartJSON{}, ValidationWarnings: d.warnings,
	}
	if v.PreserveFields == nil {
		v.PreserveFields = []string{}
	}
	if v.ValidationWarnings == nil {
		v.ValidationWarnings = []string{}
	}
	for i, p := range d.parts {
		v.DatasetParts = append(v.DatasetParts, datasetPartJSON{
			ID: fmt.Sprintf("%s-part-%d", d.id, i), Name: fmt.Sprintf("part-%d.avro", i),
			URL:   fmt.Sprintf("%s/_sim/parts/%s/%d.avro", base, d.id, i),
			Index: i, SizeBytes: len(p), NumRows: d.partRows[i],
		})
	}
	return v
}

func (s *Server) handleDatasetGet(w http.ResponseWriter, r *http.Request, _ []byte) {
	if !s.admit(w, "datasets", 1) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	d, ok := s.datasets[id]
	var v datasetJSON
	if ok {
		v = datasetView(d, baseURL(r))
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("dataset with id %s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"dataset": v})
}

func (s *Server) handleDatasetList(w http.ResponseWriter, r *http.Request, _ []byte) {
	if !s.admit(w, "datasets", 1) {
		return
	}
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	s.mu.Lock()
	out := []datasetJSON{}
	for _, d := range s.sortedDatasets() {
		if t := q.Get("datasetType"); t != "" && d.typ != t {
			continue
		}
		if st := q.Get("validationStatus"); st != "" && d.status != st {
			continue
		}
		out = append(out, datasetView(d, baseURL(r)))
	}
	s.mu.Unlock()
	out = out[min(max(offset, 0), len(out)):]
	if limit > 0 && limit < len(out) {
		out = out[:limit]
	}
	writeJSON(w, http.StatusOK, map[string]any{"datasets": out})
}

func (s *Server) handleDatasetDelete(w http.ResponseWriter, r *http.Request, _ []byte) {
	if !s.admit(w, "datasets", 1) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	_, ok := s.datasets[id]
	delete(s.datasets, id)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("dataset with id %s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) handleDatasetUsage(w http.ResponseWriter, r *http.Request, _ []byte) {
	if !s.admit(w, "datasets", 1) {
		return
	}
	s.mu.Lock()
	var total int64
	for _, d := range s.datasets {
		total += d.size
		for _, p := range d.parts {
			total += int64(len(p))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]int64{"organization_usage": total})
}

// addOutputDataset stores a validated output dataset built from rows.
func (s *Server) addOutputDataset(name, typ string, fields []avroField, rows []map[string]any) (*dataset, error) {
	s.mu.Lock()
	perPart := s.cfg.partRows
	s.mu.Unlock()
	parts, counts, schema, err := encodeParts("Row", fields, rows, perPart)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	d := &dataset{
		id: newDatasetID(name), name: name, typ: typ, created: now, updated: now,
		status: statusValidated, parts: parts, partRows: counts, schema: schema,
		records: rows, required: []string{}, preserve: []string{},
	}
	s.mu.Lock()
	s.order++
	d.seq = s.order
	s.datasets[d.id] = d
	s.mu.Unlock()
	return d, nil
}
