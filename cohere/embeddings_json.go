package cohere

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// The embeddings of a 96-text call are ~150k numbers; decoding them through
// encoding/json's reflection dominates a worker's CPU. This codec reads the
// numbers with strconv straight into one backing array per type. It parses
// float32 exactly as encoding/json does (strconv.ParseFloat(s, 32)), so a
// float32 printed by Go round-trips bit for bit.

// UnmarshalJSON accepts the v1 floats shape (an array of float arrays) and
// the by-type shape (an object keyed by embedding type). Unknown keys are
// skipped.
func (e *Embeddings) UnmarshalJSON(data []byte) error {
	s := &scanner{data: data}
	if err := e.parse(s); err != nil {
		return err
	}
	s.ws()
	if s.pos != len(s.data) {
		return s.errorf("unexpected data after embeddings")
	}
	return nil
}

// parse reads one embeddings value at s.
func (e *Embeddings) parse(s *scanner) error {
	*e = Embeddings{base64Floats: e.base64Floats}
	defer func() { e.base64Floats = false }()
	s.ws()
	switch {
	case s.literal("null"):
	case s.peek() == '[':
		rows, err := parseMatrix(s, parseFloat32)
		if err != nil {
			return fmt.Errorf("embeddings: %w", err)
		}
		e.Float = rows
	case s.peek() == '{':
		if err := e.parseObject(s); err != nil {
			return fmt.Errorf("embeddings: %w", err)
		}
	default:
		return s.errorf("expected an array or an object")
	}
	return nil
}

func (e *Embeddings) parseObject(s *scanner) error {
	return s.members(func(key string) error {
		var err error
		switch key {
		case "float":
			e.Float, err = parseMatrix(s, parseFloat32)
		case "int8":
			e.Int8, err = parseMatrix(s, parseInt8)
		case "uint8":
			e.Uint8, err = parseMatrix(s, parseUint8)
		case "binary":
			e.Binary, err = parseMatrix(s, parseSignedByte)
		case "ubinary":
			e.Ubinary, err = parseMatrix(s, parseUint8)
		case "base64":
			if e.base64Floats {
				e.Float, err = parseBase64Floats(s)
				break
			}
			var raw []byte
			if raw, err = s.skipValue(); err == nil {
				err = json.Unmarshal(raw, &e.Base64)
			}
		default:
			_, err = s.skipValue()
		}
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
		return nil
	})
}

// MarshalJSON writes the by-type object, the shape /v2/embed returns, with
// the byte types as the API's integers. Numbers are formatted exactly as
// encoding/json formats them.
func (e Embeddings) MarshalJSON() ([]byte, error) {
	hint := 2
	for _, r := range e.Float {
		hint += len(r) * 13
	}
	for _, r := range e.Int8 {
		hint += len(r) * 5
	}
	b := make([]byte, 0, hint)
	b = append(b, '{')
	var err error
	sep := func(name string) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	if e.Float != nil {
		sep("float")
		if b, err = appendMatrix(b, e.Float, appendFloat32); err != nil {
			return nil, err
		}
	}
	if e.Int8 != nil {
		sep("int8")
		b, _ = appendMatrix(b, e.Int8, func(b []byte, v int8) ([]byte, error) { return strconv.AppendInt(b, int64(v), 10), nil })
	}
	if e.Uint8 != nil {
		sep("uint8")
		b, _ = appendMatrix(b, e.Uint8, appendUint8)
	}
	if e.Binary != nil {
		sep("binary")
		b, _ = appendMatrix(b, e.Binary, func(b []byte, v byte) ([]byte, error) { return strconv.AppendInt(b, int64(int8(v)), 10), nil })
	}
	if e.Ubinary != nil {
		sep("ubinary")
		b, _ = appendMatrix(b, e.Ubinary, appendUint8)
	}
	if e.Base64 != nil {
		sep("base64")
		enc, err := json.Marshal(e.Base64)
		if err != nil {
			return nil, err
		}
		b = append(b, enc...)
	}
	return append(b, '}'), nil
}

func appendUint8(b []byte, v uint8) ([]byte, error) { return strconv.AppendUint(b, uint64(v), 10), nil }

// appendFloat32 mirrors encoding/json's float encoder for 32-bit floats.
func appendFloat32(b []byte, v float32) ([]byte, error) {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("embeddings: unsupported value %v", v)
	}
	format := byte('f')
	if abs := float32(math.Abs(f)); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 32)
	if format == 'e' {
		// encoding/json writes e-7, not e-07.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

func appendMatrix[T any](b []byte, rows [][]T, app func([]byte, T) ([]byte, error)) ([]byte, error) {
	b = append(b, '[')
	for i, row := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		if row == nil {
			b = append(b, "null"...)
			continue
		}
		b = append(b, '[')
		for j, v := range row {
			if j > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = app(b, v); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	return append(b, ']'), nil
}

func parseFloat32(s string) (float32, error) {
	f, err := strconv.ParseFloat(s, 32)
	return float32(f), err
}

func parseInt8(s string) (int8, error) {
	v, err := strconv.ParseInt(s, 10, 8)
	return int8(v), err
}

func parseUint8(s string) (uint8, error) {
	v, err := strconv.ParseUint(s, 10, 8)
	return uint8(v), err
}

// parseSignedByte reads a binary embedding's signed int as its byte.
func parseSignedByte(s string) (byte, error) {
	v, err := strconv.ParseInt(s, 10, 8)
	return byte(int8(v)), err
}

// scanner walks JSON text. It only needs the subset embeddings use, and it
// reports malformed input as an error rather than trusting a prior pass.
type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", s.pos, fmt.Sprintf(format, args...))
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *scanner) consume(c byte) bool {
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if len(s.data)-s.pos >= len(lit) && string(s.data[s.pos:s.pos+len(lit)]) == lit {
		s.pos += len(lit)
		return true
	}
	return false
}

// str reads a JSON string; escapes go through encoding/json.
func (s *scanner) str() (string, error) {
	start := s.pos
	if !s.consume('"') {
		return "", s.errorf("expected a string")
	}
	escaped := false
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c == '\\':
			escaped = true
			s.pos += 2
			continue
		case c == '"':
			s.pos++
			raw := s.data[start:s.pos]
			if !escaped {
				if !utf8.Valid(raw) {
					return "", s.errorf("invalid UTF-8 in string")
				}
				return string(raw[1 : len(raw)-1]), nil
			}
			var out string
			if err := json.Unmarshal(raw, &out); err != nil {
				return "", fmt.Errorf("offset %d: %w", start, err)
			}
			return out, nil
		case c < 0x20:
			return "", s.errorf("control character in string")
		}
		s.pos++
	}
	return "", errUnexpectedEnd
}

var errUnexpectedEnd = errors.New("unexpected end of JSON input")

// skipValue moves past one value and returns its text.
func (s *scanner) skipValue() ([]byte, error) {
	s.ws()
	start := s.pos
	switch c := s.peek(); c {
	case '"':
		if _, err := s.str(); err != nil {
			return nil, err
		}
	case '[', '{':
		depth := 0
	walk:
		for s.pos < len(s.data) {
			switch s.data[s.pos] {
			case '"':
				if _, err := s.str(); err != nil {
					return nil, err
				}
				continue
			case '[', '{':
				depth++
			case ']', '}':
				depth--
			}
			s.pos++
			if depth == 0 {
				break walk
			}
		}
		if depth != 0 {
			return nil, errUnexpectedEnd
		}
	default:
		for s.pos < len(s.data) {
			switch s.data[s.pos] {
			case ',', ']', '}', ':', ' ', '\t', '\n', '\r':
				return s.finishSkip(start)
			}
			s.pos++
		}
	}
	return s.finishSkip(start)
}

func (s *scanner) finishSkip(start int) ([]byte, error) {
	raw := s.data[start:s.pos]
	if !json.Valid(raw) {
		return nil, fmt.Errorf("offset %d: invalid JSON value", start)
	}
	return raw, nil
}

// number returns the next number token without copying it.
func (s *scanner) number() (string, error) {
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.pos++
			continue
		}
		break
	}
	if s.pos == start || (s.data[start] != '-' && (s.data[start] < '0' || s.data[start] > '9')) {
		s.pos = start
		return "", s.errorf("expected a number")
	}
	tok := s.data[start:s.pos]
	// The token is only read by strconv, which copies what it keeps.
	return unsafe.String(unsafe.SliceData(tok), len(tok)), nil
}

// parseMatrix reads an array of number arrays (or null) into rows that
// share one backing array, sized by a first pass over the brackets.
func parseMatrix[T any](s *scanner, parse func(string) (T, error)) ([][]T, error) {
	s.ws()
	if s.literal("null") {
		return nil, nil
	}
	if !s.consume('[') {
		return nil, s.errorf("expected '['")
	}
	elems, rows := countMatrix(s.data[s.pos:])
	flat := make([]T, 0, elems)
	out := make([][]T, 0, rows)
	s.ws()
	if s.consume(']') {
		return out, nil
	}
	var zero T
	for {
		s.ws()
		if s.literal("null") {
			out = append(out, nil)
		} else {
			if !s.consume('[') {
				return nil, s.errorf("expected '['")
			}
			start := len(flat)
			s.ws()
			if !s.consume(']') {
				for {
					s.ws()
					if s.literal("null") {
						// encoding/json leaves a null element at its zero value.
						flat = append(flat, zero)
					} else {
						tok, err := s.number()
						if err != nil {
							return nil, err
						}
						v, err := parse(tok)
						if err != nil {
							return nil, fmt.Errorf("offset %d: %w", s.pos, err)
						}
						flat = append(flat, v)
					}
					s.ws()
					if s.consume(',') {
						continue
					}
					if s.consume(']') {
						break
					}
					return nil, s.errorf("expected ',' or ']'")
				}
			}
			end := len(flat)
			out = append(out, flat[start:end:end])
		}
		s.ws()
		if s.consume(',') {
			continue
		}
		if s.consume(']') {
			return out, nil
		}
		return nil, s.errorf("expected ',' or ']'")
	}
}

// countMatrix estimates, from the text after a matrix's opening bracket,
// how many numbers and rows it holds (an upper bound when well formed).
// The API writes compact JSON, where the matrix ends at the first "]]";
// bytes.Count over that span is much faster than walking every byte.
func countMatrix(b []byte) (elems, rows int) {
	if end := bytes.Index(b, []byte("]]")); end >= 0 {
		span := b[:end]
		if bytes.IndexByte(span, '"') < 0 && bytes.IndexByte(span, '{') < 0 {
			rows = bytes.Count(span, []byte("["))
			return bytes.Count(span, []byte(",")) + rows, rows
		}
	}
	depth := 1
	commas := 0
	for _, c := range b {
		switch c {
		case ',':
			commas++
		case '[':
			depth++
			rows++
		case ']':
			depth--
			if depth == 0 {
				return commas + rows, rows
			}
		case '"', '{':
			return commas + rows, rows
		}
	}
	return commas + rows, rows
}
