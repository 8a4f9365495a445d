package passage

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Spec
		err  string // substring of the error; "" for none
	}{
		{in: "none", want: Spec{}},
		{in: "", want: Spec{}},
		{in: "paragraphs", want: Spec{Mode: SplitParagraphs}},
		{in: "tokens:256", want: Spec{Mode: SplitTokens, MaxTokens: 256}},
		{in: "tokens:512,overlap:64", want: Spec{Mode: SplitTokens, MaxTokens: 512, Overlap: 64}},
		{in: "tokens:16", want: Spec{Mode: SplitTokens, MaxTokens: 16}},
		{in: "tokens:100,overlap:0", want: Spec{Mode: SplitTokens, MaxTokens: 100}},
		{in: "tokens:100,overlap:49", want: Spec{Mode: SplitTokens, MaxTokens: 100, Overlap: 49}},
		{in: "tokens", err: `-split "tokens": tokens needs a size, e.g. tokens:256`},
		{in: "sentences", err: `-split "sentences": want none, paragraphs or tokens:N[,overlap:M]`},
		{in: "Paragraphs", err: `want none, paragraphs or tokens:N[,overlap:M]`},
		{in: "tokens:", err: `-split "tokens:": N is missing`},
		{in: "tokens:abc", err: `-split "tokens:abc": N must be a whole number of tokens, got "abc"`},
		{in: "tokens:-5", err: `N must be a whole number of tokens, got "-5"`},
		{in: "tokens:12.5", err: `N must be a whole number of tokens, got "12.5"`},
		{in: "tokens: 256", err: `N must be a whole number of tokens, got " 256"`},
		{in: "tokens:15", err: `-split "tokens:15": N must be at least 16 tokens, got 15`},
		{in: "tokens:99999999999999999999", err: `N is too large: "99999999999999999999"`},
		{in: "tokens:256,", err: `after tokens:256 want overlap:M, got ""`},
		{in: "tokens:256,overlap", err: `after tokens:256 want overlap:M, got "overlap"`},
		{in: "tokens:256,stride:10", err: `after tokens:256 want overlap:M, got "stride:10"`},
		{in: "tokens:256,overlap:", err: `overlap is missing`},
		{in: "tokens:256,overlap:x", err: `overlap must be a whole number of tokens, got "x"`},
		{in: "tokens:100,overlap:50", err: `-split "tokens:100,overlap:50": overlap must be less than half of N (100), got 50`},
		{in: "tokens:256,overlap:10,overlap:5", err: `overlap must be a whole number of tokens, got "10,overlap:5"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			again, err := Parse(got.String())
			if err != nil || again != got {
				t.Fatalf("Parse(%q.String() = %q) = %+v, %v", tt.in, got.String(), again, err)
			}
		})
	}
}

func TestSpecFlag(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var spec Spec
	fs.Var(&spec, "split", "how to cut documents")
	if err := fs.Parse([]string{"-split", "tokens:300,overlap:30"}); err != nil {
		t.Fatal(err)
	}
	if want := (Spec{Mode: SplitTokens, MaxTokens: 300, Overlap: 30}); spec != want {
		t.Fatalf("spec = %+v, want %+v", spec, want)
	}
	err := fs.Parse([]string{"-split", "tokens:8"})
	want := `invalid value "tokens:8" for flag -split: N must be at least 16 tokens, got 8`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}
