package parquet

import (
	"bytes"
	"context"
	"testing"
)

// The struct fast path and the row path must write the same file, or parts
// of one job would differ by which embedding types were requested.
func TestStructPathMatchesRowPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		set  vectorSet
	}{
		{"float", vecFloat},
		{"int8", vecInt8},
		{"binary", vecBinary},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fast := embeddingLayout(tc.set)
			if fast.write == nil {
				t.Fatalf("layout %s has no struct path", tc.set)
			}
			slow := *fast
			slow.write = nil
			rs := rows("r", 150, tc.set, 256)
			rs[3].Metadata = []byte("null")
			w, err := New(Config{Dir: t.TempDir(), RowGroupRows: 100})
			if err != nil {
				t.Fatal(err)
			}
			var a, b bytes.Buffer
			if err := writeRows(context.Background(), &a, fast, rs, w.opts); err != nil {
				t.Fatal(err)
			}
			if err := writeRows(context.Background(), &b, &slow, rs, w.opts); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Errorf("struct path wrote %d bytes, row path %d, and they differ", a.Len(), b.Len())
			}
		})
	}
}
