package passage

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/cobatch/cobatch/cohere/coheretest"
)

// runeOffsets returns the byte offset of every character of text, and
// len(text) last, decoding as Go's range over a string does.
func runeOffsets(text string) []int {
	var off []int
	for i := 0; i < len(text); {
		off = append(off, i)
		_, size := utf8.DecodeRuneInString(text[i:])
		i += size
	}
	return append(off, len(text))
}

// checkSplit checks everything Split promises about ps, the passages of
// text under spec, without using the code under test to decide it.
func checkSplit(t testing.TB, spec Spec, text string, ps []Passage) {
	t.Helper()
	if text == "" {
		if len(ps) != 0 {
			t.Fatalf("%s: empty text gave %d passages", spec, len(ps))
		}
		return
	}
	if len(ps) == 0 {
		t.Fatalf("%s: %q gave no passage", spec, text)
	}
	off := runeOffsets(text)
	chars := len(off) - 1
	if ps[0].CharStart != 0 || ps[len(ps)-1].CharEnd != chars {
		t.Fatalf("%s: passages span [%d,%d), document has %d characters", spec, ps[0].CharStart, ps[len(ps)-1].CharEnd, chars)
	}
	for i, p := range ps {
		if p.Index != i {
			t.Fatalf("%s: passage %d has index %d", spec, i, p.Index)
		}
		if p.CharStart < 0 || p.CharEnd > chars || p.CharStart >= p.CharEnd {
			t.Fatalf("%s: passage %d spans [%d,%d) of %d characters", spec, i, p.CharStart, p.CharEnd, chars)
		}
		bs, be := off[p.CharStart], off[p.CharEnd]
		if p.Text != text[bs:be] {
			t.Fatalf("%s: passage %d text %q, document [%d,%d) is %q", spec, i, p.Text, p.CharStart, p.CharEnd, text[bs:be])
		}
		if spec.Mode == SplitTokens && Tokens(p.Text) > spec.MaxTokens {
			t.Fatalf("%s: passage %d is %d tokens", spec, i, Tokens(p.Text))
		}
		if got := coheretest.Tokens(p.Text); got > Tokens(p.Text) {
			t.Fatalf("%s: passage %d: estimate %d under the fake tokenizer's %d", spec, i, Tokens(p.Text), got)
		}
		if i == 0 {
			continue
		}
		q := ps[i-1]
		// In order, no gap, each adds text.
		if p.CharStart <= q.CharStart || p.CharStart > q.CharEnd || p.CharEnd <= q.CharEnd {
			t.Fatalf("%s: passage %d [%d,%d) after [%d,%d)", spec, i, p.CharStart, p.CharEnd, q.CharStart, q.CharEnd)
		}
		shared := text[bs:off[q.CharEnd]]
		if spec.Mode != SplitTokens || spec.Overlap == 0 {
			if shared != "" {
				t.Fatalf("%s: passages %d and %d share %q", spec, i-1, i, shared)
			}
		} else {
			if Tokens(shared) > spec.Overlap {
				t.Fatalf("%s: passages %d and %d share %d tokens: %q", spec, i-1, i, Tokens(shared), shared)
			}
			// The overlap is as long as word breaks allow: no word starts
			// between the earliest allowed start and the chosen one.
			from := max(off[q.CharStart]+1, off[q.CharEnd]-spec.Overlap)
			for k := from; k < bs; k++ {
				if wordStart(text, k) {
					t.Fatalf("%s: passage %d starts at byte %d but a word starts at %d, within %d tokens of passage %d's end", spec, i, bs, k, spec.Overlap, i-1)
				}
			}
		}
		if spec.Mode == SplitParagraphs {
			tail := q.Text[len(strings.TrimRightFunc(q.Text, unicode.IsSpace)):]
			if strings.Count(tail, "\n") < 2 && !strings.ContainsRune(tail, '\u2029') {
				t.Fatalf("%s: passage %d ends %q, not at a blank line", spec, i-1, q.Text)
			}
		}
	}
	if spec.Mode == SplitParagraphs {
		for i, p := range ps {
			if hasBlankLine(strings.TrimSpace(p.Text)) {
				t.Fatalf("%s: passage %d holds a blank line: %q", spec, i, p.Text)
			}
		}
	}
}

// wordStart reports whether a word starts at byte k of text: a character
// that is not whitespace follows whitespace that follows some other text.
func wordStart(text string, k int) bool {
	if k <= 0 || k >= len(text) || !utf8.RuneStart(text[k]) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(text[k:])
	before, _ := utf8.DecodeLastRuneInString(text[:k])
	return !unicode.IsSpace(r) && unicode.IsSpace(before) && strings.TrimSpace(text[:k]) != ""
}

// hasBlankLine reports whether s holds a line of only whitespace between two
// others.
func hasBlankLine(s string) bool {
	lines := strings.Split(s, "\n")
	for _, l := range lines[min(1, len(lines)):max(1, len(lines)-1)] {
		if strings.TrimSpace(l) == "" {
			return true
		}
	}
	return strings.ContainsRune(s, '\u2029')
}
