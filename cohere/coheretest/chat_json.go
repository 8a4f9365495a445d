package coheretest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// generator builds a JSON value that satisfies a schema, with choices a
// test can predict:
//   - a string enum: the value that occurs earliest in the last user message
//     (case-insensitive, as whole words: "ot" is not in "not"); otherwise, when earlier turns are few-shot
//     examples (a user turn answered by an assistant turn naming a value as
//     a JSON string), the value of the example whose user text is nearest to
//     the last user message (cosine of Embedding vectors, the earlier example
//     on a tie); otherwise one picked by the conversation's hash. An array of
//     such enums: every value that occurs in the last user message, in the
//     order they occur, otherwise one value chosen as above;
//   - const: the constant; booleans: by hash;
//   - numbers and integers: by hash within minimum/maximum (exclusive bounds
//     respected; [0, 1] or [0, 100] when unbounded), numbers to 2 decimals;
//   - strings: the first words of the last user message within
//     minLength/maxLength; formats date, date-time, email, uri and uuid get a
//     fixed value of that format;
//   - objects: every property in "properties"; arrays: minItems items, or
//     one when there is no minimum; anyOf/oneOf: the first branch; allOf: the
//     merged branches; "$ref": references inside the schema.
type generator struct {
	root  map[string]any
	user  string
	turns []Turn
	h     uint64
}

const maxSchemaDepth = 16

// pick returns a number in [0, n) that depends on the conversation and on
// where in the schema it is asked for.
func (g *generator) pick(path string, n int) int {
	if n <= 1 {
		return 0
	}
	x := splitmix(g.h ^ fnvString(path))
	return int(x % uint64(n))
}

func fnvString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func (g *generator) value(s map[string]any, path string, depth int) (any, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("schema nests deeper than %d levels at %q", maxSchemaDepth, path)
	}
	s, err := g.resolve(s, path)
	if err != nil {
		return nil, err
	}
	if c, ok := s["const"]; ok {
		return c, nil
	}
	if enum, ok := s["enum"].([]any); ok && len(enum) > 0 {
		return g.enumValue(enum, path), nil
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if branches, ok := s[k].([]any); ok && len(branches) > 0 {
			b, _ := branches[0].(map[string]any)
			return g.value(b, path, depth+1)
		}
	}
	switch schemaType(s) {
	case "object":
		return g.object(s, path, depth)
	case "array":
		return g.array(s, path, depth)
	case "string":
		return g.str(s, path), nil
	case "integer":
		lo, hi := intBounds(s)
		return lo + int64(g.pick(path, int(min(hi-lo+1, 1<<30)))), nil
	case "number":
		return g.number(s, path), nil
	case "boolean":
		return g.pick(path, 2) == 1, nil
	case "null":
		return nil, nil
	}
	// No type: the empty schema accepts anything; answer with text.
	return g.str(s, path), nil
}

// resolve follows "$ref" inside the schema and merges "allOf".
func (g *generator) resolve(s map[string]any, path string) (map[string]any, error) {
	for range maxSchemaDepth {
		ref, ok := s["$ref"].(string)
		if !ok {
			break
		}
		target, err := g.lookup(ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		merged := map[string]any{}
		for k, v := range target {
			merged[k] = v
		}
		for k, v := range s {
			if k != "$ref" {
				merged[k] = v
			}
		}
		s = merged
	}
	if all, ok := s["allOf"].([]any); ok {
		merged := map[string]any{}
		for k, v := range s {
			if k != "allOf" {
				merged[k] = v
			}
		}
		for _, b := range all {
			bm, _ := b.(map[string]any)
			bm, err := g.resolve(bm, path)
			if err != nil {
				return nil, err
			}
			for k, v := range bm {
				if k == "properties" {
					props, _ := merged[k].(map[string]any)
					if props == nil {
						props = map[string]any{}
					}
					for pk, pv := range v.(map[string]any) {
						props[pk] = pv
					}
					merged[k] = props
					continue
				}
				merged[k] = v
			}
		}
		s = merged
	}
	return s, nil
}

func (g *generator) lookup(ref string) (map[string]any, error) {
	ptr, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("$ref %q: only references inside the schema are supported", ref)
	}
	var cur any = g.root
	for _, part := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if part == "" {
			continue
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		cur = m[part]
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q does not resolve to a schema", ref)
	}
	return m, nil
}

func schemaType(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		for _, v := range t {
			if str, ok := v.(string); ok && str != "null" {
				return str
			}
		}
		if len(t) > 0 {
			return "null"
		}
	}
	if _, ok := s["properties"]; ok {
		return "object"
	}
	if _, ok := s["items"]; ok {
		return "array"
	}
	return ""
}

// mentioned returns the string enum values that occur in the last user
// message, ordered by where they first occur.
func (g *generator) mentioned(enum []any) []any {
	text := strings.ToLower(g.user)
	type hit struct {
		at int
		v  any
	}
	var hits []hit
	for _, v := range enum {
		str, ok := v.(string)
		if !ok || str == "" {
			continue
		}
		if i := wordIndex(text, strings.ToLower(str)); i >= 0 {
			hits = append(hits, hit{i, v})
		}
	}
	// Earliest first, so "not spam" beats the "spam" inside it; at the same
	// place the longer value wins ("not spam" over "not").
	slices.SortStableFunc(hits, func(a, b hit) int {
		if a.at != b.at {
			return a.at - b.at
		}
		return len(b.v.(string)) - len(a.v.(string))
	})
	out := make([]any, len(hits))
	for i, h := range hits {
		out[i] = h.v
	}
	return out
}

// wordIndex is the first index of sub in text where it is not part of a
// longer word ("ot" is not in "not"), or -1.
func wordIndex(text, sub string) int {
	isWord := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	for from := 0; from <= len(text)-len(sub); {
		i := strings.Index(text[from:], sub)
		if i < 0 {
			return -1
		}
		i += from
		before, _ := utf8.DecodeLastRuneInString(text[:i])
		after, _ := utf8.DecodeRuneInString(text[i+len(sub):])
		if (i == 0 || !isWord(before)) && (i+len(sub) == len(text) || !isWord(after)) {
			return i
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		from = i + size
	}
	return -1
}

func (g *generator) enumValue(enum []any, path string) any {
	if m := g.mentioned(enum); len(m) > 0 {
		return m[0]
	}
	if v, ok := g.nearestExample(enum); ok {
		return v
	}
	return enum[g.pick(path, len(enum))]
}

// nearestExample is the enum value of the few-shot example nearest to the
// last user message, if the conversation has examples that name one.
func (g *generator) nearestExample(enum []any) (any, bool) {
	const dims = 256
	var q []float32
	best, found := -2.0, false
	var choice any
	// The last turn is the question itself; examples come before it.
	for i := 0; i+1 < len(g.turns)-1; i++ {
		if g.turns[i].Role != "user" || g.turns[i+1].Role != "assistant" {
			continue
		}
		answer := g.turns[i+1].Text
		for _, v := range enum {
			str, ok := v.(string)
			if !ok || !strings.Contains(answer, `"`+str+`"`) {
				continue
			}
			if q == nil {
				q = Embedding("chat", "", g.user, dims)
			}
			if c := cosine(q, Embedding("chat", "", g.turns[i].Text, dims)); c > best {
				best, choice, found = c, v, true
			}
			break
		}
	}
	return choice, found
}

func (g *generator) object(s map[string]any, path string, depth int) (any, error) {
	out := map[string]any{}
	props, _ := s["properties"].(map[string]any)
	for name, ps := range props {
		pm, _ := ps.(map[string]any)
		v, err := g.value(pm, path+"/"+name, depth+1)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

func (g *generator) array(s map[string]any, path string, depth int) (any, error) {
	items, _ := s["items"].(map[string]any)
	items, err := g.resolve(items, path)
	if err != nil {
		return nil, err
	}
	lo, hasMin := intKeyword(s, "minItems")
	hi, hasMax := intKeyword(s, "maxItems")
	if !hasMax {
		hi = math.MaxInt
	}
	if enum, ok := items["enum"].([]any); ok && len(enum) > 0 {
		out := g.mentioned(enum)
		if len(out) == 0 {
			out = []any{g.enumValue(enum, path)}
		}
		for i := 0; len(out) < lo && i < len(enum); i++ {
			if !slices.Contains(out, enum[i]) {
				out = append(out, enum[i])
			}
		}
		return out[:min(len(out), hi)], nil
	}
	n := 1
	if hasMin {
		n = lo
	}
	n = min(n, hi)
	out := make([]any, 0, n)
	for i := range n {
		v, err := g.value(items, fmt.Sprintf("%s/%d", path, i), depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (g *generator) str(s map[string]any, path string) string {
	switch s["format"] {
	case "date":
		return "2025-01-31"
	case "date-time":
		return "2025-01-31T12:00:00Z"
	case "email":
		return "someone@example.com"
	case "uri":
		return "https://example.com/"
	case "uuid":
		return "00000000-0000-4000-8000-000000000000"
	}
	w := strings.Fields(g.user)
	if len(w) > 8 {
		w = w[:8]
	}
	r := []rune(strings.Join(w, " "))
	if len(r) == 0 {
		r = []rune("text")
	}
	if hi, ok := intKeyword(s, "maxLength"); ok && len(r) > hi {
		r = r[:max(hi, 0)]
	}
	if lo, ok := intKeyword(s, "minLength"); ok {
		for len(r) < lo {
			r = append(r, 'x')
		}
	}
	return string(r)
}

func (g *generator) number(s map[string]any, path string) float64 {
	lo, hi := floatBounds(s)
	steps := int(math.Round((hi - lo) * 100))
	v := lo + float64(g.pick(path, steps+1))/100
	v = math.Round(v*100) / 100
	return min(max(v, lo), hi)
}

// intBounds are an integer schema's inclusive bounds.
func intBounds(s map[string]any) (int64, int64) {
	lo, hi := floatBounds(s)
	l, h := int64(math.Ceil(lo)), int64(math.Floor(hi))
	if h < l {
		h = l
	}
	return l, h
}

// floatBounds are a number schema's inclusive bounds, exclusive ones moved
// inward by 0.01; unbounded sides default to 0 and 1 (or lo+100 when only a
// minimum is given).
func floatBounds(s map[string]any) (float64, float64) {
	lo, hasLo := floatKeyword(s, "minimum")
	hi, hasHi := floatKeyword(s, "maximum")
	if x, ok := floatKeyword(s, "exclusiveMinimum"); ok {
		lo, hasLo = x+0.01, true
	}
	if x, ok := floatKeyword(s, "exclusiveMaximum"); ok {
		hi, hasHi = x-0.01, true
	}
	switch {
	case !hasLo && !hasHi:
		return 0, 1
	case !hasLo:
		lo = min(0, hi)
	case !hasHi:
		hi = lo + 100
	}
	return lo, max(lo, hi)
}

func floatKeyword(s map[string]any, k string) (float64, bool) {
	switch v := s[k].(type) {
	case float64:
		return v, true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

func intKeyword(s map[string]any, k string) (int, bool) {
	f, ok := floatKeyword(s, k)
	return int(f), ok
}
