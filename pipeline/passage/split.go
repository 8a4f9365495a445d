package passage

import (
	"sort"
	"unicode"
	"unicode/utf8"
)

// Passage is one piece of a document, the unit that is embedded and stored.
type Passage struct {
	// Index is the passage's place in its document, from 0.
	Index int
	// CharStart and CharEnd are the passage's first character and one past
	// its last, counted in Unicode code points from the start of the
	// document.
	CharStart, CharEnd int
	// Text is the document's characters CharStart up to CharEnd.
	Text string
}

// Split cuts text into passages as s says (see the package documentation).
// An empty text has none; any other has at least one.
func (s Spec) Split(text string) []Passage {
	if text == "" {
		return nil
	}
	var spans []span
	switch s.Mode {
	case SplitParagraphs:
		spans = paragraphSpans(text)
	case SplitTokens:
		spans = tokenSpans(text, s.MaxTokens, s.Overlap)
	default:
		spans = []span{{0, len(text)}}
	}
	return passages(text, spans)
}

// span is a passage's byte offsets in its document, half-open.
type span struct{ start, end int }

// strength ranks the places a text may be cut, weakest first.
type strength int8

const (
	inWord    strength = iota // between two characters of a word
	word                      // before a word, after whitespace
	line                      // after a line break
	sentence                  // after the end of a sentence
	paragraph                 // after a blank line
)

// cut is a place text may be cut: the byte offset of the first character
// after it.
type cut struct {
	pos int
	s   strength
}

func sentenceStop(r rune) bool {
	switch r {
	case '.', '!', '?', '…', '。', '！', '？', '．':
		return true
	}
	return false
}

// fullStop marks the stops after which a sentence ends without a space, as
// in Chinese and Japanese text.
func fullStop(r rune) bool { return r == '。' || r == '！' || r == '？' }

// cuts lists, in order, every place text may be cut at a word break or
// stronger. The start and end of text are not among them: whitespace that
// opens a text belongs to its first passage, and whitespace that closes a
// passage belongs to it.
func cuts(text string) []cut {
	// About one cut per word: sized up front, as growing the slice copied
	// it over and over.
	out := make([]cut, 0, len(text)/6)
	var last rune // the last character before the current position that is not whitespace or a closer
	var prev rune // the character just before the current position
	for i := 0; i < len(text); {
		r, size := decode(text, i)
		if !unicode.IsSpace(r) {
			if i > 0 && fullStop(last) && !isCloser(r) && !unicode.IsSpace(prev) {
				out = append(out, cut{i, sentence})
			}
			if !isCloser(r) {
				last = r
			}
			prev = r
			i += size
			continue
		}
		// A run of whitespace: the cut, if any, is after it.
		newlines, paraSep, lineSep := 0, false, false
		j := i
		for j < len(text) {
			r, size := decode(text, j)
			if !unicode.IsSpace(r) {
				break
			}
			switch r {
			case '\n':
				newlines++
			case '\u2029':
				paraSep = true
			case '\u2028':
				lineSep = true
			}
			prev = r
			j += size
		}
		if i > 0 && j < len(text) {
			s := word
			switch {
			case newlines >= 2 || paraSep:
				s = paragraph
			case sentenceStop(last):
				s = sentence
			case newlines == 1 || lineSep:
				s = line
			}
			out = append(out, cut{j, s})
		}
		i = j
	}
	return out
}

// decode is utf8.DecodeRuneInString(text[i:]) with a shortcut for ASCII,
// most of most texts.
func decode(text string, i int) (rune, int) {
	if c := text[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(text[i:])
}

// isCloser reports whether r may follow a sentence's final stop: `He said,
// "Go."` ends a sentence at the quote.
func isCloser(r rune) bool {
	switch r {
	case '"', '\'', ')', ']', '}', '’', '”', '»', '›', '」', '』', '）':
		return true
	}
	return false
}

func paragraphSpans(text string) []span {
	var spans []span
	start := 0
	for _, c := range cuts(text) {
		if c.s == paragraph {
			spans = append(spans, span{start, c.pos})
			start = c.pos
		}
	}
	return append(spans, span{start, len(text)})
}

// tokenSpans cuts text into spans of at most n tokens, neighbours sharing at
// most m. Tokens are bytes (see Tokens), so a span's cost is its length.
func tokenSpans(text string, n, m int) []span {
	cs := cuts(text)
	var spans []span
	start, prevEnd := 0, 0
	for {
		limit := start + n
		if limit >= len(text) {
			return append(spans, span{start, len(text)})
		}
		end := pickEnd(text, cs, start, prevEnd, limit, n)
		spans = append(spans, span{start, end})
		prevEnd = end
		next := end
		if m > 0 {
			// The first word break in the last m tokens, but after start:
			// every passage must begin later than the one before.
			from := max(start+1, end-m)
			k := sort.Search(len(cs), func(k int) bool { return cs[k].pos >= from })
			if k < len(cs) && cs[k].pos < end {
				next = cs[k].pos
			}
		}
		start = next
	}
}

// pickEnd chooses where the passage that starts at start ends: at a cut
// after both start and prevEnd (so that it adds text the passage before did
// not have) and at most limit. A paragraph break, sentence end or line break
// is taken, strongest first, when it keeps at least half of n; otherwise the
// last word break; otherwise a cut between two characters.
func pickEnd(text string, cs []cut, start, prevEnd, limit, n int) int {
	lo := max(start, prevEnd)
	half := start + n/2
	k := sort.Search(len(cs), func(k int) bool { return cs[k].pos > limit }) - 1
	for _, want := range []strength{paragraph, sentence, line} {
		for j := k; j >= 0 && cs[j].pos > lo && cs[j].pos >= half; j-- {
			if cs[j].s >= want {
				return cs[j].pos
			}
		}
	}
	if k >= 0 && cs[k].pos > lo {
		return cs[k].pos
	}
	// Inside a word: as many whole characters as fit. Parse keeps
	// limit-lo above the 4 bytes of the widest character.
	p := lo
	for p < limit {
		_, size := utf8.DecodeRuneInString(text[p:])
		if p+size > limit {
			break
		}
		p += size
	}
	if p == lo {
		_, size := utf8.DecodeRuneInString(text[p:])
		p += size
	}
	return p
}

// passages turns byte spans into Passages with character offsets. Starts
// and ends each only grow, so one counter for each converts them in a
// single pass.
func passages(text string, spans []span) []Passage {
	out := make([]Passage, len(spans))
	var starts, ends runeCounter
	for i, sp := range spans {
		out[i] = Passage{
			Index:     i,
			CharStart: starts.at(text, sp.start),
			CharEnd:   ends.at(text, sp.end),
			Text:      text[sp.start:sp.end],
		}
	}
	return out
}

// runeCounter counts the characters of a text up to a byte offset that
// never decreases between calls.
type runeCounter struct{ pos, runes int }

func (c *runeCounter) at(text string, pos int) int {
	c.runes += utf8.RuneCountInString(text[c.pos:pos])
	c.pos = pos
	return c.runes
}
