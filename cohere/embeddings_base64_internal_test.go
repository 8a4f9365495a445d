package cohere

import (
	"bytes"
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
