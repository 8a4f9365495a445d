package input

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Record is one input record, or one bad record (Err set).
type Record struct {
	ID   string
	Text string
	// Meta is a JSON object of the meta fields; nil when none are asked for.
	Meta json.RawMessage
	// File is the path as given (after glob expansion).
	File string
	// Line is the 1-based line (for CSV the line where the record starts), or
	// the 0-based row for Parquet.
	Line int64
	// Err is non-nil for a bad record: invalid JSON or CSV, a missing id or
	// text field, empty text, invalid UTF-8, an over-long line. It is a
	// *RecordError naming file, line and field. ID is set when it could be
	// read.
	Err error
}

// recordMaker turns units of one range into Records.
type recordMaker struct {
	opts   Options
	file   string // path as given
	base   string // what "line" ids start with
	format Format
	col    map[string]int // CSV header: column name to index
	header []string
}

func newRecordMaker(r Range, opts Options) *recordMaker {
	m := &recordMaker{opts: opts, file: r.displayName(), format: r.Format, header: r.Header}
	m.base = filepath.Base(m.file)
	if r.Path == "-" {
		m.base = "stdin"
	}
	if r.Format == FormatCSV {
		m.col = make(map[string]int, len(r.Header))
		for i, h := range r.Header {
			if _, dup := m.col[h]; !dup {
				m.col[h] = i
			}
		}
	}
	return m
}

func (m *recordMaker) bad(rec Record, field, reason string) Record {
	rec.Err = &RecordError{File: rec.File, Line: rec.Line, Field: field, Reason: reason}
	return rec
}

func (m *recordMaker) make(u unit) Record {
	rec := Record{File: m.file, Line: u.line}
	if u.bad != "" {
		return m.bad(rec, "", u.bad)
	}
	switch m.format {
	case FormatText:
		return m.text(rec, u.data)
	case FormatCSV:
		return m.csv(rec, u.data)
	default:
		return m.jsonl(rec, u.data)
	}
}

// idFrom fills in a derived id; the text must already be valid.
func (m *recordMaker) idFrom(rec Record, how string) Record {
	switch how {
	case IDFromHash:
		sum := sha256.Sum256([]byte(rec.Text))
		rec.ID = hex.EncodeToString(sum[:16])
	default:
		rec.ID = m.base + ":" + strconv.FormatInt(rec.Line, 10)
	}
	return rec
}

func checkText(rec Record, m *recordMaker, field string) (Record, bool) {
	if strings.TrimSpace(rec.Text) == "" {
		return m.bad(rec, field, "empty text"), false
	}
	return rec, true
}

// withText sets a record's text from its text fields, joined by a blank
// line, checks it, and derives the id when -id-from says so. ok is false
// when the record became a bad record.
func (m *recordMaker) withText(rec Record, parts []string) (Record, bool) {
	rec.Text = strings.Join(parts, "\n\n")
	rec, ok := checkText(rec, m, m.textField())
	if ok && m.opts.IDFrom != "" {
		rec = m.idFrom(rec, m.opts.IDFrom)
	}
	return rec, ok
}

func (m *recordMaker) text(rec Record, data []byte) Record {
	if !utf8.Valid(data) {
		return m.bad(rec, "", "invalid UTF-8")
	}
	rec.Text = string(data)
	rec, ok := checkText(rec, m, "")
	if !ok {
		return rec
	}
	how := m.opts.IDFrom
	if how == "" {
		how = IDFromLine
	}
	return m.idFrom(rec, how)
}

func missingIDReason() string {
	return "missing id (set -id-field to the id field, or -id-from line|hash)"
}

func (m *recordMaker) textField() string {
	if len(m.opts.TextFields) == 1 {
		return m.opts.TextFields[0]
	}
	return strings.Join(m.opts.TextFields, ",")
}

func (m *recordMaker) jsonl(rec Record, data []byte) Record {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return m.bad(rec, "", "not a JSON object")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return m.bad(rec, "", "invalid JSON: "+jsonReason(err))
	}
	if m.opts.IDFrom == "" {
		raw, ok := obj[m.opts.IDField]
		if !ok || string(raw) == "null" {
			return m.bad(rec, m.opts.IDField, missingIDReason())
		}
		id, err := jsonID(raw)
		if err != nil {
			return m.bad(rec, m.opts.IDField, err.Error())
		}
		rec.ID = id
	}
	parts := make([]string, 0, len(m.opts.TextFields))
	for _, f := range m.opts.TextFields {
		raw, ok := obj[f]
		switch {
		case !ok || string(raw) == "null":
			return m.bad(rec, f, "missing text field")
		case raw[0] != '"':
			return m.bad(rec, f, "text field is not a string")
		case !utf8.Valid(raw):
			return m.bad(rec, f, "invalid UTF-8")
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return m.bad(rec, f, "invalid JSON string")
		}
		parts = append(parts, s)
	}
	rec, ok := m.withText(rec, parts)
	if !ok {
		return rec
	}
	if len(m.opts.MetaFields) > 0 {
		meta := metaWriter{}
		for _, f := range m.opts.MetaFields {
			raw, ok := obj[f]
			if !ok {
				continue
			}
			if !utf8.Valid(raw) {
				return m.bad(rec, f, "invalid UTF-8")
			}
			meta.add(f, raw)
		}
		rec.Meta = meta.bytes()
	}
	return rec
}

// jsonReason keeps the decoder's explanation without echoing input text.
func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (offset %d)", se.Error(), se.Offset)
	}
	return "malformed object"
}

// jsonID gives a string id as is and a number as its decimal text.
func jsonID(raw json.RawMessage) (string, error) {
	switch {
	case raw[0] == '"':
		if !utf8.Valid(raw) {
			return "", errors.New("invalid UTF-8")
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errors.New("invalid JSON string")
		}
		if s == "" {
			return "", errors.New("empty id")
		}
		return s, nil
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		lit := string(raw)
		if isIntLiteral(lit) {
			return lit, nil
		}
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil {
			return "", errors.New("id is not a usable number")
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return strconv.FormatInt(int64(f), 10), nil
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	}
	return "", errors.New("id must be a string or a number")
}

func isIntLiteral(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// metaWriter builds a JSON object keeping the order of the meta fields.
type metaWriter struct{ buf []byte }

func (w *metaWriter) add(key string, raw []byte) {
	if len(w.buf) == 0 {
		w.buf = append(w.buf, '{')
	} else {
		w.buf = append(w.buf, ',')
	}
	k, _ := json.Marshal(key)
	w.buf = append(append(append(w.buf, k...), ':'), raw...)
}

func (w *metaWriter) bytes() json.RawMessage {
	if len(w.buf) == 0 {
		return json.RawMessage("{}")
	}
	return json.RawMessage(append(w.buf, '}'))
}

func (m *recordMaker) csv(rec Record, data []byte) Record {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	row, err := cr.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			rec.Line += int64(pe.Line) - 1
			return m.bad(rec, "", "invalid CSV: "+pe.Err.Error())
		}
		return m.bad(rec, "", "invalid CSV: "+err.Error())
	}
	if _, err := cr.Read(); err != io.EOF {
		return m.bad(rec, "", "invalid CSV: malformed record")
	}
	if len(row) != len(m.header) {
		return m.bad(rec, "", fmt.Sprintf("row has %d fields, header has %d", len(row), len(m.header)))
	}
	get := func(f string) (string, bool) {
		i, ok := m.col[f]
		if !ok {
			return "", false
		}
		return row[i], true
	}
	if m.opts.IDFrom == "" {
		id, ok := get(m.opts.IDField)
		switch {
		case !ok:
			return m.bad(rec, m.opts.IDField, "no such column in the header; "+missingIDReason())
		case !utf8.ValidString(id):
			return m.bad(rec, m.opts.IDField, "invalid UTF-8")
		case id == "":
			return m.bad(rec, m.opts.IDField, missingIDReason())
		}
		rec.ID = id
	}
	parts := make([]string, 0, len(m.opts.TextFields))
	for _, f := range m.opts.TextFields {
		s, ok := get(f)
		if !ok {
			return m.bad(rec, f, "no such column in the header")
		}
		if !utf8.ValidString(s) {
			return m.bad(rec, f, "invalid UTF-8")
		}
		parts = append(parts, s)
	}
	rec, ok := m.withText(rec, parts)
	if !ok {
		return rec
	}
	if len(m.opts.MetaFields) > 0 {
		meta := metaWriter{}
		for _, f := range m.opts.MetaFields {
			s, ok := get(f)
			if !ok {
				continue
			}
			if !utf8.ValidString(s) {
				return m.bad(rec, f, "invalid UTF-8")
			}
			v, _ := json.Marshal(s)
			meta.add(f, v)
		}
		rec.Meta = meta.bytes()
	}
	return rec
}
