package passage

import (
	"fmt"

	"github.com/cobatch/cobatch/cohere"
)

// Tokens returns an upper bound on the tokens text costs any Cohere model:
// its length in bytes (see the package documentation for why that bound
// holds). The bound adds up: Tokens(a+b) == Tokens(a)+Tokens(b), which is
// what lets Split size passages without re-counting them.
func Tokens(text string) int { return len(text) }

// Reserved is how many tokens of a model's context Limit keeps back for the
// start and end markers a model adds around its input, which no count of
// the text itself can see.
const Reserved = 4

// Limit is the context of one model: the most tokens of one input it reads
// before the API truncates the rest.
type Limit struct {
	Model string
	// Context is the model's context_length from GET /v1/models.
	Context int
}

// LimitOf reads m's context. Models that take no text (an image-only
// model reports 0) have none and give an error.
func LimitOf(m cohere.Model) (Limit, error) {
	l := Limit{Model: m.Name, Context: int(m.ContextLength)}
	if l.Usable() < 1 {
		return Limit{}, fmt.Errorf("model %s: context length %v leaves no room for text", m.Name, m.ContextLength)
	}
	return l, nil
}

// Usable is how many tokens of text fit: Context less Reserved.
func (l Limit) Usable() int { return l.Context - Reserved }

// Truncates reports whether the API may cut text short: whether its token
// bound passes Usable. It never says no for a text the API truncates; it
// may say yes for one that just fits.
func (l Limit) Truncates(text string) bool { return Tokens(text) > l.Usable() }

// Check refuses a Spec whose passages could be longer than the model reads.
// SplitParagraphs has no size to check; count its passages with Truncates.
func (l Limit) Check(s Spec) error {
	if s.Mode == SplitTokens && s.MaxTokens > l.Usable() {
		return fmt.Errorf("-split %s: passages of %d tokens do not fit model %s, which reads %d tokens (%d less %d reserved); use tokens:%d or less",
			s, s.MaxTokens, l.Model, l.Usable(), l.Context, Reserved, l.Usable())
	}
	return nil
}
