package passage

import (
	"slices"
	"strings"
	"testing"
)

func texts(ps []Passage) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Text
	}
	return out
}

func TestSplit(t *testing.T) {
	t.Parallel()
	tokens := func(n, m int) Spec { return Spec{Mode: SplitTokens, MaxTokens: n, Overlap: m} }
	tests := []struct {
		name string
		spec Spec
		text string
		want []string
	}{
		{"none keeps the whole text", Spec{}, "One. Two.\n\nThree.", []string{"One. Two.\n\nThree."}},
		{"empty text has no passage", tokens(16, 0), "", nil},
		{"whitespace alone is one passage", Spec{Mode: SplitParagraphs}, " \n\n ", []string{" \n\n "}},
		{"paragraphs end after their blank lines", Spec{Mode: SplitParagraphs},
			"\nFirst line\nsame paragraph.\n\nSecond.\r\n \t\r\nThird\n",
			[]string{"\nFirst line\nsame paragraph.\n\n", "Second.\r\n \t\r\n", "Third\n"}},
		{"a paragraph separator character ends a paragraph", Spec{Mode: SplitParagraphs},
			"One\u2029Two", []string{"One\u2029", "Two"}},
		{"a short text is one passage", tokens(16, 4), "Short text.", []string{"Short text."}},
		{"sentence ends beat word breaks", tokens(24, 0),
			"Jesus wept. Then he went on and on.",
			[]string{"Jesus wept. ", "Then he went on and on."}},
		{"a sentence end in the first half loses to the last word break", tokens(40, 0),
			"Go. Then he went on and on and on, and further still.",
			[]string{"Go. Then he went on and on and on, and ", "further still."}},
		{"paragraph breaks beat sentence ends", tokens(40, 0),
			"Alpha beta gamma delta.\n\nEpsilon. Zeta eta theta iota kappa.",
			[]string{"Alpha beta gamma delta.\n\n", "Epsilon. Zeta eta theta iota kappa."}},
		{"a closing quote stays with its sentence", tokens(24, 0),
			`He said, "Go now." And they went away.`,
			[]string{`He said, "Go now." `, "And they went away."}},
		{"line breaks beat word breaks", tokens(24, 0),
			"roses are red and\nviolets are blue, sugar",
			[]string{"roses are red and\n", "violets are blue, sugar"}},
		{"a word longer than N is cut between characters", tokens(16, 0),
			"a supercalifragilisticexpialidocious word",
			[]string{"a ", "supercalifragili", "sticexpialidocio", "us word"}},
		{"a cut inside a word never splits a character", tokens(16, 0),
			strings.Repeat("é", 9),
			[]string{strings.Repeat("é", 8), "é"}},
		{"four-byte characters", tokens(16, 0),
			strings.Repeat("😀", 5),
			[]string{strings.Repeat("😀", 4), "😀"}},
		{"Chinese sentences end without a space", tokens(32, 0),
			"天地玄黄。宇宙洪荒。日月盈昃。",
			[]string{"天地玄黄。宇宙洪荒。", "日月盈昃。"}},
		{"overlap starts the next passage at the first word in the last M tokens", tokens(32, 12),
			"one two three four five six seven eight nine ten eleven twelve",
			[]string{"one two three four five six ", "five six seven eight nine ten ", "nine ten eleven twelve"}},
		{"no overlap inside a long word", tokens(16, 4),
			"abcdefghijklmnopqrstuvwxyz",
			[]string{"abcdefghijklmnop", "qrstuvwxyz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps := tt.spec.Split(tt.text)
			if got := texts(ps); !slices.Equal(got, tt.want) {
				t.Fatalf("Split(%q) with %s =\n%q\nwant\n%q", tt.text, tt.spec, got, tt.want)
			}
			checkSplit(t, tt.spec, tt.text, ps)
		})
	}
}

func TestSplitOffsetsAreCharacters(t *testing.T) {
	t.Parallel()
	// "Ünïcödé " is 8 characters and 12 bytes; offsets count characters
	// (39 in all), the limit counts bytes.
	text := "Ünïcödé wörds ärë cöüntéd ïn chäräctërs"
	ps := Spec{Mode: SplitTokens, MaxTokens: 24}.Split(text)
	want := []Passage{
		{Index: 0, CharStart: 0, CharEnd: 14, Text: "Ünïcödé wörds "},
		{Index: 1, CharStart: 14, CharEnd: 29, Text: "ärë cöüntéd ïn "},
		{Index: 2, CharStart: 29, CharEnd: 39, Text: "chäräctërs"},
	}
	if !slices.Equal(ps, want) {
		t.Fatalf("Split = %+v\nwant %+v", ps, want)
	}
	checkSplit(t, Spec{Mode: SplitTokens, MaxTokens: 24}, text, ps)
}
