package passage

import "testing"

// FuzzSplit checks every promise of Split on any text, with N and M taken
// from the fuzzer and brought into the range Parse allows.
func FuzzSplit(f *testing.F) {
	f.Add("In the beginning God created the heaven and the earth.\n\nAnd the earth was without form, and void.", uint16(16), uint16(7))
	f.Add("天地玄黄。宇宙洪荒。", uint16(20), uint16(3))
	f.Fuzz(func(t *testing.T, text string, n, m uint16) {
		max := MinTokens + int(n)%2048
		spec := Spec{Mode: SplitTokens, MaxTokens: max, Overlap: int(m) % ((max + 1) / 2)}
		if 2*spec.Overlap >= max {
			spec.Overlap = 0
		}
		if _, err := Parse(spec.String()); err != nil {
			t.Fatalf("fuzz made a spec Parse refuses: %v", err)
		}
		for _, s := range []Spec{spec, {Mode: SplitParagraphs}, {}} {
			checkSplit(t, s, text, s.Split(text))
		}
	})
}
