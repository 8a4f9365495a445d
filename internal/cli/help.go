package cli

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Sections of the flags in -h, in the order they are printed.
const (
	SecInput     = "Input"
	SecOperation = "Operation"
	SecSink      = "Sink"
	SecRate      = "Rate and cost"
	SecControl   = "Job control"
	SecOutput    = "Output"
	secOther     = "Other"
)

// JobFlagSections places each flag of JobFlags in a section of -h. A new
// job flag needs one line here; one missing is listed under "Other".
var JobFlagSections = map[string]string{
	"in": SecInput, "format": SecInput, "id-field": SecInput, "text-field": SecInput,
	"meta-fields": SecInput, "id-from": SecInput, "max-record-bytes": SecInput,
	"spool-dir": SecInput, "chunk-size": SecInput, "split": SecInput,

	"op": SecOperation, "model": SecOperation, "input-type": SecOperation,
	"embedding-types": SecOperation, "dimensions": SecOperation, "truncate": SecOperation,
	"examples": SecOperation, "candidates": SecOperation, "top-n": SecOperation,
	"max-tokens-per-doc": SecOperation, "async": SecOperation, "async-threshold": SecOperation,
	"batch-model": SecOperation, "async-fallback": SecOperation, "keep-datasets": SecOperation,
	"prompt": SecOperation, "prompt-file": SecOperation, "system": SecOperation,
	"json-schema": SecOperation, "max-tokens": SecOperation, "temperature": SecOperation,
	"seed": SecOperation, "store-prompt": SecOperation,
	"via": SecOperation, "labels": SecOperation, "multi-label": SecOperation,

	"sink": SecSink, "table": SecSink, "pg-type": SecSink, "index": SecSink,
	"distance": SecSink, "index-m": SecSink, "index-ef-construction": SecSink,
	"index-concurrently": SecSink, "force": SecSink, "store-text": SecSink,
	"prune": SecSink, "prune-dry-run": SecSink,

	"price-per-mtok": SecRate, "price-per-mtok-out": SecRate, "max-cost": SecRate,

	"job": SecControl, "strict": SecControl,
}

// Help is a command's -h: the text before the flags, then the flags by
// section, each with its default.
type Help struct {
	Command  string            // "enqueue"
	Intro    string            // usage lines and description
	Sections []string          // section titles in order
	Section  map[string]string // flag name → section title
	Hidden   []string          // flags that still work but are not listed
	Outro    string            // printed after the flags
}

// helpWidth is the width -h wraps to: it reads in any terminal.
const helpWidth = 80

// nameColumn is where a flag's description starts.
const nameColumn = 28

// Print writes the help: the intro, each section's flags sorted by name,
// descriptions wrapped to 80 columns.
func (h Help) Print(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, h.Intro)
	bySection := map[string][]*flag.Flag{}
	fs.VisitAll(func(f *flag.Flag) {
		if slices.Contains(h.Hidden, f.Name) {
			return
		}
		sec, ok := h.Section[f.Name]
		if !ok || !slices.Contains(h.Sections, sec) {
			sec = secOther
		}
		bySection[sec] = append(bySection[sec], f)
	})
	for _, sec := range append(slices.Clone(h.Sections), secOther) {
		flags := bySection[sec]
		if len(flags) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", sec)
		for _, f := range flags {
			writeFlag(w, f)
		}
	}
	fmt.Fprint(w, h.Outro)
}

func writeFlag(w io.Writer, f *flag.Flag) {
	kind, usage := flag.UnquoteUsage(f)
	if _, ok := f.Value.(*ListFlag); ok && kind == "value" {
		kind = "list"
	}
	head := "  -" + f.Name
	if kind != "" {
		head += " " + kind
	}
	if !isZeroDefault(f.DefValue) && !strings.Contains(usage, "default") {
		def := f.DefValue
		if kind == "string" {
			def = strconv.Quote(def) // as flag.PrintDefaults shows strings
		}
		// One word for wrap: the default stays on one line with its value.
		usage += fmt.Sprintf(" (default\x00%s)", def)
	}
	lines := wrap(usage, helpWidth-nameColumn)
	if len(head) >= nameColumn-1 {
		fmt.Fprintln(w, head)
	} else {
		fmt.Fprintf(w, "%-*s%s\n", nameColumn, head, lines[0])
		lines = lines[1:]
	}
	for _, l := range lines {
		fmt.Fprintf(w, "%*s%s\n", nameColumn, "", l)
	}
}

func isZeroDefault(v string) bool {
	switch v {
	case "", "0", "false", "0s":
		return true
	}
	return false
}

// wrap breaks s into lines of at most width runes, at spaces; a NUL joins
// two words as a space that does not break.
func wrap(s string, width int) (lines []string) {
	line := ""
	defer func() {
		for i, l := range lines {
			lines[i] = strings.ReplaceAll(l, "\x00", " ")
		}
	}()
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case len([]rune(line))+1+len([]rune(word)) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}

// visible returns the names of the flags -h lists.
func (h Help) visible(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if !slices.Contains(h.Hidden, f.Name) {
			names = append(names, f.Name)
		}
	})
	return names
}

// Unlisted returns the listed flags of fs that no section holds: a test
// keeps it empty, so that every flag is where a reader looks for it.
func (h Help) Unlisted(fs *flag.FlagSet) []string {
	var out []string
	for _, n := range h.visible(fs) {
		if sec, ok := h.Section[n]; !ok || !slices.Contains(h.Sections, sec) {
			out = append(out, n)
		}
	}
	return out
}
