package passage

import (
	"fmt"
	"strconv"
	"strings"
)

// Mode says how a document becomes passages.
type Mode int

// The modes of the -split flag.
const (
	SplitNone       Mode = iota // the whole document, one passage
	SplitParagraphs             // one passage per paragraph
	SplitTokens                 // passages of at most Spec.MaxTokens tokens
)

// MinTokens is the smallest N that tokens:N accepts: a character may cost up
// to 4 tokens, and every passage must hold a few of them beyond its overlap.
const MinTokens = 16

// Spec is a parsed -split value. The zero Spec is "none".
type Spec struct {
	Mode Mode
	// MaxTokens is N of tokens:N, the most tokens (by Tokens) a passage
	// holds. Used only in SplitTokens mode.
	MaxTokens int
	// Overlap is M of overlap:M, the most tokens two neighbouring passages
	// share. Default 0. Used only in SplitTokens mode.
	Overlap int
}

// Parse reads a -split value: "none", "paragraphs", "tokens:N" or
// "tokens:N,overlap:M". Its errors quote the value and name the part at
// fault.
func Parse(s string) (Spec, error) {
	spec, err := parse(s)
	if err != nil {
		return Spec{}, fmt.Errorf("-split %q: %w", s, err)
	}
	return spec, nil
}

// parse is Parse with errors that do not repeat the value, as the flag
// package quotes it itself.
func parse(s string) (Spec, error) {
	fail := func(format string, args ...any) (Spec, error) {
		return Spec{}, fmt.Errorf(format, args...)
	}
	switch s {
	case "none", "":
		return Spec{}, nil
	case "paragraphs":
		return Spec{Mode: SplitParagraphs}, nil
	}
	rest, ok := strings.CutPrefix(s, "tokens:")
	if !ok {
		if s == "tokens" {
			return fail("tokens needs a size, e.g. tokens:256")
		}
		return fail("want none, paragraphs or tokens:N[,overlap:M]")
	}
	sizePart, overlapPart, hasOverlap := strings.Cut(rest, ",")
	n, err := count(sizePart)
	if err != nil {
		return fail("N %v", err)
	}
	if n < MinTokens {
		return fail("N must be at least %d tokens, got %d", MinTokens, n)
	}
	spec := Spec{Mode: SplitTokens, MaxTokens: n}
	if !hasOverlap {
		return spec, nil
	}
	mPart, ok := strings.CutPrefix(overlapPart, "overlap:")
	if !ok {
		return fail("after tokens:%d want overlap:M, got %q", n, overlapPart)
	}
	m, err := count(mPart)
	if err != nil {
		return fail("overlap %v", err)
	}
	// At least half of every passage is new text, so that the passages
	// move forward by a useful step.
	if 2*m >= n {
		return fail("overlap must be less than half of N (%d), got %d", n, m)
	}
	spec.Overlap = m
	return spec, nil
}

// count reads a whole number of tokens.
func count(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("is missing")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("must be a whole number of tokens, got %q", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("is too large: %q", s)
	}
	return n, nil
}

// String gives the flag value that Parse reads back as s.
func (s Spec) String() string {
	switch s.Mode {
	case SplitParagraphs:
		return "paragraphs"
	case SplitTokens:
		if s.Overlap > 0 {
			return fmt.Sprintf("tokens:%d,overlap:%d", s.MaxTokens, s.Overlap)
		}
		return fmt.Sprintf("tokens:%d", s.MaxTokens)
	default:
		return "none"
	}
}

// Set parses v into s, so that a *Spec serves as a flag.Value.
func (s *Spec) Set(v string) error {
	p, err := parse(v)
	if err != nil {
		return err
	}
	*s = p
	return nil
}
