package coheretest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxDatasetBytes is the largest upload the fake accepts, as the API does.
const MaxDatasetBytes = 1536 << 20

// maxLineBytes bounds one JSONL line so an unterminated upload cannot grow a
// buffer without limit.
const maxLineBytes = 16 << 20

// Dataset types the fake understands.
const (
	TypeEmbedInput        = "embed-input"
	TypeEmbedResult       = "embed-result"
	TypeBatchEmbedInput   = "batch-embed-v2-input"
	TypeBatchEmbedOutput  = "batch-embed-v2-output"
	TypeBatchChatInput    = "batch-chat-v2-input"
	TypeBatchChatOutput   = "batch-chat-v2-output"
	statusProcessing      = "processing"
	statusValidated       = "validated"
	statusFailed          = "failed"
	datasetIDSuffixLength = 6
)

type dataset struct {
	id, name, typ string
	created       time.Time
	updated       time.Time
	status        string
	validationErr string
	warnings      []string
	required      []string
	preserve      []string
	size          int64
	records       []map[string]any
	parts         [][]byte
	partRows      []int
	schema        string // Avro schema of the parts
	seq           int64
}

// DatasetInfo describes a dataset the fake holds (see Server.Datasets).
type DatasetInfo struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Status string `json:"status"`
	Rows   int    `json:"rows"`
}

// Datasets lists the datasets that exist (not deleted), oldest first, so
// tests can assert that a job cleaned up after itself.
func (s *Server) Datasets() []DatasetInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.sortedDatasets()
	out := make([]DatasetInfo, len(ds))
	for i, d := range ds {
		out[i] = DatasetInfo{ID: d.id, Name: d.name, Type: d.typ, Status: d.status, Rows: len(d.records)}
	}
	return out
}

func (s *Server) sortedDatasets() []*dataset {
	ds := make([]*dataset, 0, len(s.datasets))
	for _, d := range s.datasets {
		ds = append(ds, d)
	}
	slices.SortFunc(ds, func(a, b *dataset) int { return int(a.seq - b.seq) })
	return ds
}

// newDatasetID mimics the API's "<name>-<6 random chars>" ids.
func newDatasetID(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	base := strings.Trim(b.String(), "-")
	if base == "" {
		base = "dataset"
	}
	return base + "-" + strings.ReplaceAll(newUUID()[:datasetIDSuffixLength], "-", "x")
}

// listParam accepts both repeated and comma-separated query values.
func listParam(q map[string][]string, key string) []string {
	var out []string
	for _, v := range q[key] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

type uploadOpts struct {
	typ, separator, delimiter string
	keep, optional            []string
	skipMalformed             bool
}

func (s *Server) handleDatasetCreate(w http.ResponseWriter, r *http.Request, _ []byte) {
	q := r.URL.Query()
	name, typ := q.Get("name"), q.Get("type")
	if name == "" {
		writeError(w, http.StatusBadRequest, "invalid request: name is required")
		return
	}
	if typ != TypeEmbedInput && !isBatchInput(typ) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: dataset type '%s' is not supported, use '%s', '%s' or '%s'", typ, TypeEmbedInput, TypeBatchEmbedInput, TypeBatchChatInput))
		return
	}
	if !s.admit(w, "datasets", 1) {
		return
	}
	opts := uploadOpts{
		typ: typ, separator: q.Get("text_separator"), delimiter: q.Get("csv_delimiter"),
		keep: listParam(q, "keep_fields"), optional: listParam(q, "optional_fields"),
		skipMalformed: q.Get("skip_malformed_input") == "true",
	}
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid request: body must be multipart/form-data with a 'data' part")
		return
	}
	d := &dataset{name: name, typ: typ, required: requiredFields(typ), preserve: append(slices.Clone(opts.keep), opts.optional...)}
	found := false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid request: malformed multipart body")
			return
		}
		if p.FormName() != "data" {
			io.Copy(io.Discard, p) //nolint:errcheck // eval_data and unknown parts are not used
			continue
		}
		found = true
		cr := &countingReader{r: io.LimitReader(p, MaxDatasetBytes+1)}
		verr := parseUpload(d, path.Ext(p.FileName()), cr, opts)
		if cr.n > MaxDatasetBytes {
			writeError(w, http.StatusBadRequest, "invalid request: dataset exceeds the maximum size of 1.5GB")
			return
		}
		d.size = cr.n
		if verr != "" {
			d.validationErr, d.records = verr, nil
		}
		s.count(func(st *Stats) { st.RequestBytes += cr.n; st.MaxRequestBytes = max(st.MaxRequestBytes, cr.n) })
	}
	if !found {
		writeError(w, http.StatusBadRequest, "invalid request: multipart part 'data' is required")
		return
	}
	s.mu.Lock()
	d.id = newDatasetID(name)
	d.created = time.Now().UTC()
	d.updated = d.created
	d.status = statusProcessing
	s.order++
	d.seq = s.order
	s.datasets[d.id] = d
	delay := s.cfg.validateDelay
	perPart := s.cfg.partRows
	s.mu.Unlock()
	s.after(delay, func() { s.finishValidation(d, perPart) })
	writeJSON(w, http.StatusOK, map[string]string{"id": d.id})
}

// isBatchInput: both batch input types hold {custom_id, body} lines.
func isBatchInput(typ string) bool { return typ == TypeBatchEmbedInput || typ == TypeBatchChatInput }

func requiredFields(typ string) []string {
	if isBatchInput(typ) {
		return []string{"custom_id", "body"}
	}
	return []string{"text"}
}

// finishValidation moves a dataset to validated (with Avro parts) or failed.
func (s *Server) finishValidation(d *dataset, perPart int) {
	status, verr := statusValidated, d.validationErr
	var parts [][]byte
	var counts []int
	var schema string
	if verr == "" {
		fields, rows := d.avroRows()
		var err error
		parts, counts, schema, err = encodeParts("Row", fields, rows, perPart)
		if err != nil {
			verr = err.Error()
		}
	}
	if verr != "" {
		status = statusFailed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d.status, d.validationErr, d.parts, d.partRows, d.schema = status, verr, parts, counts, schema
	d.updated = time.Now().UTC()
}

// avroRows shapes an input dataset's records for its parts.
func (d *dataset) avroRows() ([]avroField, []map[string]any) {
	if isBatchInput(d.typ) {
		fields := []avroField{{"custom_id", avroType(`"string"`)}, {"body", avroType(`"string"`)}}
		rows := make([]map[string]any, len(d.records))
		for i, rec := range d.records {
			b, _ := json.Marshal(rec["body"])
			rows[i] = map[string]any{"custom_id": rec["custom_id"], "body": string(b)}
		}
		return fields, rows
	}
	kept := inferFields(d.preserve, d.records)
	fields := append([]avroField{{"text", avroType(`"string"`)}}, kept...)
	rows := make([]map[string]any, len(d.records))
	for i, rec := range d.records {
		row := map[string]any{"text": rec["text"]}
		for _, f := range kept {
			row[f.Name] = avroValue(rec[f.Name], f.Type)
		}
		rows[i] = row
	}
	return fields, rows
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// parseUpload reads records line by line and returns a validation error, ""
// when the file is valid. It always drains the reader.
func parseUpload(d *dataset, ext string, r io.Reader, o uploadOpts) string {
	defer io.Copy(io.Discard, r) //nolint:errcheck // drain for an accurate size
	var verr string
	add := func(line int, rec map[string]any) bool {
		if msg := checkRecord(rec, o); msg != "" {
			verr = fmt.Sprintf("line %d: %s", line, msg)
			return false
		}
		d.records = append(d.records, keepFields(rec, o))
		return true
	}
	switch strings.ToLower(ext) {
	case ".csv":
		cr := csv.NewReader(r)
		if o.delimiter != "" {
			cr.Comma = []rune(o.delimiter)[0]
		}
		header, err := cr.Read()
		if err != nil {
			return "could not read the CSV header"
		}
		for line := 2; ; line++ {
			row, err := cr.Read()
			if errors.Is(err, io.EOF) {
				return verr
			}
			if err != nil {
				return fmt.Sprintf("line %d: invalid CSV: %v", line, err)
			}
			rec := map[string]any{}
			for i, h := range header {
				if i < len(row) {
					rec[h] = row[i]
				}
			}
			if !add(line, rec) {
				return verr
			}
		}
	case ".txt":
		sep := o.separator
		if sep == "" {
			sep = "\n"
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return "could not read the upload"
		}
		for i, t := range strings.Split(string(b), sep) {
			if strings.TrimSpace(t) != "" && !add(i+1, map[string]any{"text": t}) {
				return verr
			}
		}
		return verr
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	for line := 1; sc.Scan(); line++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil || rec == nil {
			if o.skipMalformed {
				d.warnings = append(d.warnings, fmt.Sprintf("line %d: skipped malformed input", line))
				continue
			}
			return fmt.Sprintf("line %d: invalid json", line)
		}
		if !add(line, numbers(rec).(map[string]any)) {
			return verr
		}
	}
	if err := sc.Err(); err != nil {
		return "invalid upload: " + err.Error()
	}
	return verr
}

// numbers turns json.Number into int64 when integral, float64 otherwise.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

func checkRecord(rec map[string]any, o uploadOpts) string {
	if isBatchInput(o.typ) {
		if id, ok := rec["custom_id"].(string); !ok || id == "" {
			return "required field 'custom_id' is missing or empty"
		}
		if _, ok := rec["body"].(map[string]any); !ok {
			return "required field 'body' is missing or not an object"
		}
		return ""
	}
	if t, ok := rec["text"].(string); !ok || strings.TrimSpace(t) == "" {
		return "required field 'text' is missing or empty"
	}
	for _, k := range o.keep {
		if _, ok := rec[k]; !ok {
			return fmt.Sprintf("field '%s' from keep_fields is missing", k)
		}
	}
	return ""
}

// keepFields drops every field the dataset does not retain.
func keepFields(rec map[string]any, o uploadOpts) map[string]any {
	if isBatchInput(o.typ) {
		return map[string]any{"custom_id": rec["custom_id"], "body": rec["body"]}
	}
	out := map[string]any{"text": rec["text"]}
	for _, k := range append(slices.Clone(o.keep), o.optional...) {
		if v, ok := rec[k]; ok {
			out[k] = v
		}
	}
	return out
}
