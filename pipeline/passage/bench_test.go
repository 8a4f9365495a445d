package passage

import (
	"strings"
	"testing"
)

// BenchmarkSplit cuts the whole Bible (4.1 MB, one document per book) into
// passages; bytes/s is document text cut per second.
func BenchmarkSplit(b *testing.B) {
	books := kjvBooks(b)
	total := 0
	for _, book := range books {
		total += len(book)
	}
	for _, spec := range []Spec{{Mode: SplitParagraphs}, {Mode: SplitTokens, MaxTokens: 508, Overlap: 64}} {
		b.Run(strings.ReplaceAll(spec.String(), ",", "_"), func(b *testing.B) {
			b.SetBytes(int64(total))
			b.ReportAllocs()
			for b.Loop() {
				for _, book := range books {
					spec.Split(book)
				}
			}
		})
	}
}
