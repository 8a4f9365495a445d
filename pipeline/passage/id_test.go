package passage

import "testing"

func TestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc   string
		index int
		id    string
	}{
		{"John 3:16", 0, "John 3:16#0000"},
		{"doc", 7, "doc#0007"},
		{"doc", 9999, "doc#9999"},
		{"doc", 10000, "doc#10000"},
		{"a#0001", 2, "a#0001#0002"},
		{"", 1, "#0001"},
	}
	for _, tt := range tests {
		if got := ID(tt.doc, tt.index); got != tt.id {
			t.Errorf("ID(%q, %d) = %q, want %q", tt.doc, tt.index, got, tt.id)
		}
		doc, index, ok := ParseID(tt.id)
		if !ok || doc != tt.doc || index != tt.index {
			t.Errorf("ParseID(%q) = %q, %d, %v; want %q, %d", tt.id, doc, index, ok, tt.doc, tt.index)
		}
	}
	for _, bad := range []string{"doc", "doc#7", "doc#007", "doc#01234", "doc#12a4", "doc#", "doc#-001", "doc#+123"} {
		if doc, index, ok := ParseID(bad); ok {
			t.Errorf("ParseID(%q) = %q, %d, true; want not ok", bad, doc, index)
		}
	}
}
