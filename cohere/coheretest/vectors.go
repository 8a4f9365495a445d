package coheretest

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Feature weights of the lexical hashing embedding. Words dominate so that texts
// sharing words are close; the input-type and whole-text features are small so
// that a query and a document with the same words stay close while two
// different texts never collide on the exact same vector.
const (
	wordWeight      = 1.0
	inputTypeWeight = 0.3
	wholeTextWeight = 0.3
	slotsPerFeature = 4
)

// Embedding returns the fake's deterministic embedding of text: an
// L2-normalised lexical hashing vector of length dims. Each lowercased word
// (a run of letters or digits) adds ±1 to four dimensions chosen by hashing
// the model and the word, so texts that share words have a higher cosine than
// disjoint texts. The input type and the whole text each add a small feature.
// It is a pure function of its arguments; dims <= 0 returns nil.
func Embedding(model, inputType, text string, dims int) []float32 {
	if dims <= 0 {
		return nil
	}
	acc := make([]float64, dims)
	for _, w := range words(text) {
		addFeature(acc, model, "w", w, wordWeight)
	}
	addFeature(acc, model, "t", inputType, inputTypeWeight)
	addFeature(acc, model, "x", text, wholeTextWeight)
	var norm float64
	for _, x := range acc {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	out := make([]float32, dims)
	if norm == 0 {
		return out
	}
	for i, x := range acc {
		out[i] = float32(x / norm)
	}
	return out
}

func addFeature(acc []float64, model, kind, value string, weight float64) {
	h := fnv.New64a()
	h.Write([]byte(model))
	h.Write([]byte{0})
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(value))
	x := h.Sum64()
	for range slotsPerFeature {
		x = splitmix(x)
		idx := int(x % uint64(len(acc)))
		if x>>63 == 1 {
			acc[idx] -= weight
		} else {
			acc[idx] += weight
		}
	}
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// words splits text into lowercased runs of letters and digits.
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// Dims returns the embedding length the fake serves for model: embed-v4*
// models give outputDimension (256, 512, 1024 or 1536; 0 means the default
// 1536) and 0 for any other value, which the endpoints reject with a 400;
// "*-light-*" models give 384; every other model gives 1024 and ignores
// outputDimension.
func Dims(model string, outputDimension int) int {
	switch {
	case strings.HasPrefix(model, "embed-v4"):
		switch outputDimension {
		case 0:
			return 1536
		case 256, 512, 1024, 1536:
			return outputDimension
		default:
			return 0
		}
	case strings.Contains(model, "-light-"):
		return 384
	default:
		return 1024
	}
}

// Int8 quantises v to signed bytes: each value scaled by 127/max|v| and
// rounded, so the largest magnitude maps to ±127.
func Int8(v []float32) []int8 {
	out := make([]int8, len(v))
	m := maxAbs(v)
	if m == 0 {
		return out
	}
	for i, x := range v {
		q := math.Round(float64(x) / m * 127)
		out[i] = int8(max(-128, min(127, q)))
	}
	return out
}

// Uint8 is Int8 shifted by +128 into 0..255.
func Uint8(v []float32) []uint8 {
	s := Int8(v)
	out := make([]uint8, len(s))
	for i, x := range s {
		out[i] = uint8(int(x) + 128)
	}
	return out
}

// Ubinary packs one bit per dimension (1 when the value is > 0), most
// significant bit first, into ceil(len(v)/8) bytes.
func Ubinary(v []float32) []uint8 {
	out := make([]uint8, (len(v)+7)/8)
	for i, x := range v {
		if x > 0 {
			out[i/8] |= 0x80 >> (i % 8)
		}
	}
	return out
}

// Binary is Ubinary offset by -128 into the signed range, as the API returns
// its "binary" type; each byte's bit pattern equals the ubinary byte with the
// top bit flipped, so Hamming distances between two vectors are the same in
// both forms.
func Binary(v []float32) []int8 {
	ub := Ubinary(v)
	out := make([]int8, len(ub))
	for i, x := range ub {
		out[i] = int8(int(x) - 128)
	}
	return out
}

// Base64 encodes v as the API's "base64" embedding type: the standard base64
// of the vector's little-endian float32 bytes.
func Base64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func maxAbs(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}

// Tokens is the number of tokens the fake bills for text: the text is cut into
// pieces of at most 4 bytes without splitting a UTF-8 character, so it is
// ceil(len(text)/4) for ASCII text. /v1/tokenize returns exactly these pieces.
func Tokens(text string) int {
	return len(tokenPieces(text))
}

func tokenPieces(text string) []string {
	var out []string
	for len(text) > 0 {
		n := 0
		for n < len(text) {
			_, size := utf8.DecodeRuneInString(text[n:])
			if n > 0 && n+size > 4 {
				break
			}
			n += size
		}
		out = append(out, text[:n])
		text = text[n:]
	}
	return out
}

// tokenID packs a piece's bytes and length into a reversible id.
func tokenID(piece string) int64 {
	var v int64
	for i := 0; i < len(piece); i++ {
		v = v<<8 | int64(piece[i])
	}
	return int64(len(piece))<<32 | v
}

func pieceFromID(id int64) (string, bool) {
	n := int(id >> 32)
	if id < 0 || n < 1 || n > 4 {
		return "", false
	}
	v := uint32(id)
	if n < 4 && v>>(8*n) != 0 {
		return "", false
	}
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return string(b), true
}

// truncateTokens keeps at most limit token pieces of text, from the end
// ("START" drops the start) or from the start (anything else).
func truncateTokens(text string, limit int, mode string) string {
	p := tokenPieces(text)
	if len(p) <= limit {
		return text
	}
	if mode == "START" {
		return strings.Join(p[len(p)-limit:], "")
	}
	return strings.Join(p[:limit], "")
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}
