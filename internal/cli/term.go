package cli

import (
	"os"

	"golang.org/x/term"
)

// IsTerminal reports whether f is a terminal. A character device is not
// enough: /dev/null is one, and redrawing a progress bar into it is waste.
func IsTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}

// defaultWidth is the width assumed of a terminal that does not say.
const defaultWidth = 80

// Width returns the width in columns of the terminal f, or 80 when f is
// not one or does not say.
func Width(f *os.File) int {
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil || w <= 0 {
		return defaultWidth
	}
	return w
}
