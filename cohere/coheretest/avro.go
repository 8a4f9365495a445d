package coheretest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2/ocf"
)

// avroField is one column of a dataset part: name and Avro type (JSON).
type avroField struct {
	Name string          `json:"name"`
	Type json.RawMessage `json:"type"`
}

func avroType(s string) json.RawMessage { return json.RawMessage(s) }

// The embeddings record of an embed job's output rows. Each type is a
// nullable array; float is Avro "float" (32-bit), the integer types "int".
const embeddingsAvroType = `{"type":"record","name":"Embeddings","fields":[` +
	`{"name":"float","type":["null",{"type":"array","items":"float"}],"default":null},` +
	`{"name":"int8","type":["null",{"type":"array","items":"int"}],"default":null},` +
	`{"name":"uint8","type":["null",{"type":"array","items":"int"}],"default":null},` +
	`{"name":"binary","type":["null",{"type":"array","items":"int"}],"default":null},` +
	`{"name":"ubinary","type":["null",{"type":"array","items":"int"}],"default":null}]}`

// inferFields gives each kept field a nullable Avro type that holds every
// value seen: long, double, boolean or string (anything else is kept as its
// JSON text in a string).
func inferFields(names []string, records []map[string]any) []avroField {
	out := make([]avroField, 0, len(names))
	for _, n := range names {
		kind := ""
		for _, rec := range records {
			v, ok := rec[n]
			if !ok || v == nil {
				continue
			}
			k := "string"
			switch v.(type) {
			case int64:
				k = "long"
			case float64:
				k = "double"
			case bool:
				k = "boolean"
			}
			switch {
			case kind == "":
				kind = k
			case kind == "long" && k == "double", kind == "double" && k == "long":
				kind = "double"
			case kind != k:
				kind = "string"
			}
		}
		if kind == "" {
			kind = "string"
		}
		out = append(out, avroField{Name: n, Type: avroType(`["null","` + kind + `"]`)})
	}
	return out
}

// avroValue converts a JSON-decoded value to what the field's Avro type holds.
func avroValue(v any, typ json.RawMessage) any {
	if v == nil {
		return nil
	}
	switch {
	case strings.Contains(string(typ), `"long"`):
		return v
	case strings.Contains(string(typ), `"double"`):
		if i, ok := v.(int64); ok {
			return float64(i)
		}
		return v
	case strings.Contains(string(typ), `"boolean"`):
		return v
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// encodeParts writes rows as Avro object container files of at most perPart
// rows each. An empty dataset still gets one (empty) part.
func encodeParts(name string, fields []avroField, rows []map[string]any, perPart int) ([][]byte, []int, string, error) {
	schema, err := json.Marshal(map[string]any{"type": "record", "name": name, "fields": fields})
	if err != nil {
		return nil, nil, "", fmt.Errorf("avro schema: %w", err)
	}
	var parts [][]byte
	var counts []int
	for start := 0; start == 0 || start < len(rows); start += perPart {
		end := min(len(rows), start+perPart)
		var buf bytes.Buffer
		enc, err := ocf.NewEncoder(string(schema), &buf)
		if err != nil {
			return nil, nil, "", fmt.Errorf("avro encoder: %w", err)
		}
		for _, row := range rows[start:end] {
			if err := enc.Encode(row); err != nil {
				return nil, nil, "", fmt.Errorf("avro encode: %w", err)
			}
		}
		if err := enc.Close(); err != nil {
			return nil, nil, "", fmt.Errorf("avro close: %w", err)
		}
		parts = append(parts, buf.Bytes())
		counts = append(counts, end-start)
		if end == len(rows) {
			break
		}
	}
	return parts, counts, string(schema), nil
}

// handlePart serves a dataset part like a pre-signed URL: no Authorization
// needed, the body is the Avro file.
func (s *Server) handlePart(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	idx, err := strconv.Atoi(strings.TrimSuffix(r.PathValue("part"), ".avro"))
	s.mu.Lock()
	d := s.datasets[id]
	var part []byte
	if d != nil && err == nil && idx >= 0 && idx < len(d.parts) {
		part = d.parts[idx]
	}
	s.mu.Unlock()
	if part == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(part)))
	w.Write(part) //nolint:errcheck // the client may be gone
}
