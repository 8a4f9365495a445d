package cohere

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
)

// stands and whatever its value, and nothing in text without one.
func TestHasControl(t *testing.T) {
	t.Parallel()
	clean := []byte("AAAAwD8AAIC/zczMPZqZmT4+/+/abcXYZ09+/===~~~\x7f\x80\xff\x20")
	if hasControl(clean) {
		t.Fatalf("control byte found in %q", clean)
	}
	for pos := range clean {
		for c := range byte(0x20) {
			b := bytes.Clone(clean)
			b[pos] = c
			if !hasControl(b) {
				t.Fatalf("byte %#x at %d of %d not found", c, pos, len(b))
			}
		}
	}
}

// TestDecodeTexts: the texts a response echoes read as encoding/json reads
// them, escapes and all; null is none, and anything but strings an error.
func TestDecodeTexts(t *testing.T) {
	t.Parallel()
	texts := []string{`a "quoted" word`, "line\nbreak\ttab", "é ü 中文 \u2028", `back\slash`, ""}
	body, err := json.Marshal(map[string]any{"id": "x", "texts": texts, "embeddings": map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	var got EmbedResponse
	if err := got.decodeJSON(body); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Texts, texts) {
		t.Fatalf("texts %q, want %q", got.Texts, texts)
	}
	for body, want := range map[string][]string{`{"texts":null}`: nil, `{"texts":[]}`: {}, `{"texts":[ "a" , "b" ]}`: {"a", "b"}} {
		var r EmbedResponse
		if err := r.decodeJSON([]byte(body)); err != nil || !slices.Equal(r.Texts, want) || (want == nil) != (r.Texts == nil) {
			t.Errorf("%s: texts %q, %v; want %q", body, r.Texts, err, want)
		}
	}
	for _, body := range []string{`{"texts":[1]}`, `{"texts":"a"}`, `{"texts":["a",]}`, `{"texts":nul}`, `{"texts":["a"`} {
		var r EmbedResponse
		if err := r.decodeJSON([]byte(body)); err == nil {
			t.Errorf("%s: no error", body)
		}
	}
}
