package cohere

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unsafe"
)

// A "float" embedding sent as JSON numbers is ~12 bytes of text per value
// that must be parsed back; the "base64" type carries the same float32 bits
// (little-endian, then standard base64) in 5.3 bytes a value and decodes
// with a copy. Client.Embed asks for "base64" whenever only floats are
// wanted and decodes them straight into Embeddings.Float (see
// Config.JSONFloats).

// floatsAsBase64 reports whether the request's float embeddings can be asked
// for as base64: floats are wanted (named, or by default), base64 itself is
// not, and the model is not a v2.0 one (base64 needs Embed v3 or newer).
func floatsAsBase64(req *EmbedRequest) bool {
	if strings.HasSuffix(req.Model, "-v2.0") {
		return false
	}
	if len(req.EmbeddingTypes) == 0 {
		return true
	}
	float := false
	for _, t := range req.EmbeddingTypes {
		switch t {
		case EmbeddingBase64:
			return false
		case EmbeddingFloat:
			float = true
		}
	}
	return float
}

// withBase64Floats returns a copy of req asking for base64 in place of
// float.
func withBase64Floats(req *EmbedRequest) *EmbedRequest {
	r := *req
	r.EmbeddingTypes = make([]EmbeddingType, 0, max(1, len(req.EmbeddingTypes)))
	for _, t := range req.EmbeddingTypes {
		if t == EmbeddingFloat {
			t = EmbeddingBase64
		}
		r.EmbeddingTypes = append(r.EmbeddingTypes, t)
	}
	if len(r.EmbeddingTypes) == 0 {
		r.EmbeddingTypes = append(r.EmbeddingTypes, EmbeddingBase64)
	}
	return &r
}

// nativeLittleEndian is true on the machines Go mostly runs on; there the
// decoded bytes are the float32s already.
var nativeLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// parseBase64Floats reads the "base64" array, one string per input, into
// float32 rows sharing one backing array (each row capped, as parseMatrix
// does). null stays nil.
func parseBase64Floats(s *scanner) ([][]float32, error) {
	if s.literal("null") {
		return nil, nil
	}
	var strs [][]byte
	if err := s.elements(func() error {
		str, err := s.rawString()
		strs = append(strs, str)
		return err
	}); err != nil {
		return nil, err
	}
	total := 0
	for _, str := range strs {
		total += base64.StdEncoding.DecodedLen(len(str))/4 + 1
	}
	backing := make([]float32, total)
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(backing))), 4*len(backing))
	rows := make([][]float32, len(strs))
	off := 0
	for i, str := range strs {
		n, err := base64.StdEncoding.Decode(raw[4*off:], str)
		if err != nil {
			return nil, fmt.Errorf("base64 embedding %d: %w", i, err)
		}
		if n%4 != 0 {
			return nil, fmt.Errorf("base64 embedding %d: %d bytes, not whole float32s", i, n)
		}
		row := backing[off : off+n/4 : off+n/4]
		if !nativeLittleEndian {
			for j := range row {
				row[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(off+j):]))
			}
		}
		rows[i] = row
		off += n / 4
	}
	return rows, nil
}

// rawString returns a string's bytes in place, without a copy, when it has
// no escapes (base64 never needs one); otherwise its unescaped copy.
func (s *scanner) rawString() ([]byte, error) {
	if !s.consume('"') {
		return nil, s.errorf("expected a string")
	}
	start := s.pos
	end := bytes.IndexByte(s.data[start:], '"')
	if end < 0 {
		return nil, errUnexpectedEnd
	}
	raw := s.data[start : start+end]
	if bytes.IndexByte(raw, '\\') >= 0 || hasControl(raw) {
		s.pos = start - 1
		str, err := s.str()
		return []byte(str), err
	}
	s.pos = start + end + 1
	return raw, nil
}

// hasControl reports a byte below 0x20, which JSON allows in no string. It
// reads 8 bytes at a time (a base64 vector is kilobytes long): a word holds
// such a byte when subtracting 0x20 from each of its bytes borrows into a
// byte whose top bit was clear.
func hasControl(b []byte) bool {
	const ones, highs = 0x2020202020202020, 0x8080808080808080
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		if (w-ones)&^w&highs != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// decodeJSON reads a /v2/embed response without encoding/json's pass over
// the whole body (which would validate, and then skip, the large
// embeddings value twice): the scanner finds each top-level field, and only
// the small ones go through encoding/json.
func (r *EmbedResponse) decodeJSON(data []byte) error {
	keep := r.Embeddings.base64Floats
	*r = EmbedResponse{}
	r.Embeddings.base64Floats = keep
	s := &scanner{data: data}
	s.ws()
	err := s.members(func(key string) error {
		var field any
		switch key {
		case "embeddings":
			if err := r.Embeddings.parse(s); err != nil {
				return fmt.Errorf("embeddings: %w", err)
			}
		case "id":
			field = &r.ID
		case "response_type":
			field = &r.ResponseType
		case "texts":
			// Read by the scanner: encoding/json would first validate the
			// whole array, as long as the request's texts.
			var err error
			if r.Texts, err = s.strings(); err != nil {
				return fmt.Errorf("texts: %w", err)
			}
		case "images":
			field = &r.Images
		case "meta":
			field = &r.Meta
		default:
			_, err := s.skipValue()
			return err
		}
		if field == nil {
			return nil
		}
		raw, err := s.skipValue()
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, field); err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.end()
}

// strings reads an array of strings, or null (nil).
func (s *scanner) strings() ([]string, error) {
	if s.literal("null") {
		return nil, nil
	}
	out := []string{}
	err := s.elements(func() error {
		str, err := s.str()
		out = append(out, str)
		return err
	})
	return out, err
}

// elements reads an array, calling elem for each element with the scanner
// at it; elem reads it.
func (s *scanner) elements(elem func() error) error {
	return s.sequence('[', ']', "an array", elem)
}

// members reads an object, handing each key to member with the scanner at
// the key's value, which member reads.
func (s *scanner) members(member func(key string) error) error {
	return s.sequence('{', '}', "an object", func() error {
		key, err := s.str()
		if err != nil {
			return err
		}
		s.ws()
		if !s.consume(':') {
			return s.errorf("expected ':'")
		}
		s.ws()
		return member(key)
	})
}

// sequence reads what stands between open and close, item by item and
// separated by commas: an array's elements or an object's members.
func (s *scanner) sequence(open, close byte, what string, item func() error) error {
	if !s.consume(open) {
		return s.errorf("expected %s", what)
	}
	s.ws()
	if s.consume(close) {
		return nil
	}
	for {
		s.ws()
		if err := item(); err != nil {
			return err
		}
		s.ws()
		if s.consume(',') {
			continue
		}
		if s.consume(close) {
			return nil
		}
		return s.errorf("expected ',' or '%c'", close)
	}
}

func (s *scanner) end() error {
	s.ws()
	if s.pos != len(s.data) {
		return s.errorf("unexpected data after the response")
	}
	return nil
}
