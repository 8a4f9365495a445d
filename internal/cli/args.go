package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Parse parses args into fs with flags allowed anywhere on the line: the
// standard package stops at the first argument that is not a flag, so Parse
// takes that argument aside and parses the rest again. After "--" every
// argument is positional. It returns the positional arguments in order.
// Parse prints nothing: the caller reports the error (see Help.ParseError).
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	defer func() { fs.SetOutput(out); fs.Usage = usage }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return pos, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// FirstArg returns the index in args of the first positional argument, or
// -1. takesValue, called with the name of each flag before it, says which
// consume the next argument as their value.
func FirstArg(args []string, takesValue func(name string) bool) int {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return i + 1
			}
			return -1
		case len(a) < 2 || a[0] != '-':
			return i
		}
		name, _, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if takesValue(name) && !inline {
			i++
		}
	}
	return -1
}

// TakesValue reports whether fs has a flag name that is not boolean (so a
// value follows it).
func TakesValue(fs *flag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// Suggest returns the candidate closest to word (a misspelling within two
// edits, or one word starts with the other), or "" when none is close.
func Suggest(word string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		d := editDistance(word, c)
		if len(word) >= 3 && (strings.HasPrefix(c, word) || strings.HasPrefix(word, c)) {
			d = min(d, 1)
		}
		if d < bestD && d < len(word) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ParseError turns an error of Parse into one line naming the flag, with a
// hint for a misspelt one.
func (h Help) ParseError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		msg = "unknown flag -" + name
		if s := Suggest(strings.TrimLeft(name, "-"), h.visible(fs)); s != "" {
			msg += fmt.Sprintf(" (did you mean -%s?)", s)
		}
	}
	return fmt.Sprintf("%s: %s\nRun '%s -h' for the flags.", h.Command, msg, h.Command)
}

// ParseArgs parses args into fs (see Parse). On -h it prints the help to
// stdout and returns flag.ErrHelp; on an error, one line with a hint to
// stderr, and the error. Either way the command is to exit, with the code
// cmd/internal/jobview.ArgsExit gives.
func (h Help) ParseArgs(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) ([]string, error) {
	pos, err := Parse(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		h.Print(stdout, fs)
	case err != nil:
		fmt.Fprintln(stderr, h.ParseError(fs, err))
	}
	return pos, err
}
