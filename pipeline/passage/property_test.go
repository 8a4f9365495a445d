package passage

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
)

// kjvBooks reads the bundled Bible into one document per book: verses
// joined by spaces, chapters by blank lines.
func kjvBooks(t testing.TB) []string {
	t.Helper()
	var books []string
	var b strings.Builder
	book, chapter := "", 0
	for _, v := range testenv.KJV(t, -1) {
		switch {
		case v.Book != book:
			if b.Len() > 0 {
				books = append(books, b.String())
				b.Reset()
			}
		case v.Chapter != chapter:
			b.WriteString("\n\n")
		default:
			b.WriteByte(' ')
		}
		book, chapter = v.Book, v.Chapter
		b.WriteString(v.Text)
	}
	return append(books, b.String())
}

var propertySpecs = []Spec{
	{},
	{Mode: SplitParagraphs},
	{Mode: SplitTokens, MaxTokens: 16},
	{Mode: SplitTokens, MaxTokens: 100, Overlap: 49},
	{Mode: SplitTokens, MaxTokens: 508, Overlap: 64},
	{Mode: SplitTokens, MaxTokens: 2048},
}

func TestSplitKJV(t *testing.T) {
	t.Parallel()
	books := kjvBooks(t)
	if len(books) != 66 {
		t.Fatalf("read %d books, want 66", len(books))
	}
	// Three cuts of the whole Bible: the others of propertySpecs add little
	// on real text that TestSplitRandom does not cover, at seconds each
	// under the race detector.
	for _, spec := range []Spec{propertySpecs[1], propertySpecs[3], propertySpecs[4]} {
		t.Run(spec.String(), func(t *testing.T) {
			t.Parallel()
			var passages, fake, est int
			for _, book := range books {
				ps := spec.Split(book)
				checkSplit(t, spec, book, ps)
				passages += len(ps)
				for _, p := range ps {
					fake += coheretest.Tokens(p.Text)
					est += Tokens(p.Text)
				}
			}
			t.Logf("%d passages, estimate %d tokens, fake tokenizer %d (%.2fx)", passages, est, fake, float64(est)/float64(fake))
		})
	}
}

// randomText draws text from pieces that exercise every kind of cut:
// words in several scripts, sentence stops, closers, line and paragraph
// breaks, long words, and bytes that are not UTF-8.
func randomText(r *rand.Rand) string {
	pieces := []string{
		"the", "and", "of", "Jerusalem", "naïve", "Ωμέγα", "日本語", "😀", "e\u0301",
		" ", " ", " ", "  ", "\t", "\n", "\n\n", "\r\n\r\n", " \n \n", "\u00a0", "\u3000", "\u2028", "\u2029",
		".", "!", "?", "…", "。", "！", "\"", "”", ")", "」", ",", ";", "-",
		"supercalifragilisticexpialidocious", strings.Repeat("x", 70), strings.Repeat("語", 30),
		"\xff", "\xe3\x81", "\x80",
	}
	n := r.IntN(400)
	var b strings.Builder
	for range n {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

func TestSplitRandom(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(16, 2026))
	specs := append(propertySpecs, Spec{Mode: SplitTokens, MaxTokens: 40, Overlap: 19}, Spec{Mode: SplitTokens, MaxTokens: 33, Overlap: 7})
	for range 400 {
		text := randomText(r)
		for _, spec := range specs {
			checkSplit(t, spec, text, spec.Split(text))
		}
	}
}
