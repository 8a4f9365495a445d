package jobview

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cobatch/cobatch/pipeline"
)

// barWidth is the progress bar's width when the line has room for it.
const barWidth = 24

// fitProgress returns the live progress line in fewer than width columns
// (0: 80), so that "\r" redraws it in place instead of scrolling: when the
// full line is too long, the least useful parts go first (tokens, 429s, the
// async phases, the rate), then the bar narrows, then goes.
func fitProgress(s pipeline.Status, width int) string {
	if width <= 0 {
		width = 80
	}
	max := width - 1 // writing the last column makes some terminals wrap
	frac := 0.0
	if s.Records > 0 {
		frac = min(1, float64(s.Progress())/float64(s.Records))
	}
	eta := "?"
	if r := rate(s); r > 0 && s.Records > 0 {
		eta = (time.Duration(float64(s.Records-s.Progress())/r) * time.Second).Round(time.Second).String()
	}
	counts := fmt.Sprintf("%d/%d records", s.Progress(), s.Records)
	// In the order shown; drop lists them from the first to go.
	parts := []string{
		fmt.Sprintf("%.0f/s", rate(s)),
		"ETA " + eta,
		fmt.Sprintf("429s %d", s.Throttled),
		fmt.Sprintf("tokens %d", s.Tokens),
		strings.TrimPrefix(asyncProgress(s), "  "),
	}
	drop := []int{3, 2, 4, 0, 1}
	line := func(bar int) string {
		out := counts
		if bar > 0 {
			filled := int(frac * float64(bar))
			out = "[" + strings.Repeat("=", filled) + strings.Repeat(" ", bar-filled) + "] " + counts
		}
		for _, p := range parts {
			if p != "" {
				out += "  " + p
			}
		}
		return out
	}
	for _, d := range drop {
		if l := line(barWidth); utf8.RuneCountInString(l) <= max {
			return l
		}
		parts[d] = ""
	}
	for bar := barWidth; bar >= 8; bar-- {
		if l := line(bar); utf8.RuneCountInString(l) <= max {
			return l
		}
	}
	l := []rune(line(0))
	if len(l) > max {
		l = l[:max]
	}
	return string(l)
}
