package cli

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseTakesFlagsAnywhere(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var in ListFlag
	sink := fs.String("sink", "", "")
	wait := fs.Bool("wait", false, "")
	fs.Var(&in, "in", "")
	pos, err := Parse(fs, []string{"a.jsonl", "-sink", "parquet:out", "b.jsonl", "-wait", "-in", "c.jsonl", "-", "--", "-d.jsonl", "-wait"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.jsonl", "b.jsonl", "-", "-d.jsonl", "-wait"}; !slices.Equal(pos, want) {
		t.Errorf("positional %q, want %q", pos, want)
	}
	if *sink != "parquet:out" || !*wait || !slices.Equal(in, ListFlag{"c.jsonl"}) {
		t.Errorf("sink %q wait %v in %q", *sink, *wait, in)
	}
}

func TestFirstArg(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("redis", "", "")
	fs.Bool("json", false, "")
	takes := func(n string) bool { return TakesValue(fs, n) }
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"status", "J"}, 0},
		{[]string{"-redis", "r", "status", "J"}, 2},
		{[]string{"-redis=r", "-json", "status"}, 2},
		{[]string{"-json", "--", "-x"}, 2},
		{[]string{"-json"}, -1},
	} {
		if got := FirstArg(tc.args, takes); got != tc.want {
			t.Errorf("FirstArg(%q) = %d, want %d", tc.args, got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"status", "list", "cancel", "retry-failed", "dead-letters", "version"}
	for word, want := range map[string]string{
		"stats": "status", "stauts": "status", "lst": "list", "cancle": "cancel",
		"retry": "retry-failed", "dead": "dead-letters", "versoin": "version",
		"corpus": "", "x": "", "embed": "",
	} {
		if got := Suggest(word, cands); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestHelpSectionsAndDefaults(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var j JobFlags
	j.Register(fs)
	fs.Bool("status", false, "old")
	h := Help{Command: "t", Sections: []string{SecInput, SecOperation, SecSink, SecRate, SecControl},
		Section: JobFlagSections, Hidden: []string{"status"}}
	if un := h.Unlisted(fs); len(un) != 0 {
		t.Errorf("job flags in no section of -h: %v (add them to JobFlagSections)", un)
	}
	var b strings.Builder
	h.Print(&b, fs)
	out := b.String()
	if strings.Contains(out, "-status") || !strings.Contains(out, `(default "parquet:./out")`) {
		t.Errorf("help:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if len([]rune(l)) > helpWidth && strings.Count(strings.TrimSpace(l), " ") > 0 {
			t.Errorf("line over %d columns: %q", helpWidth, l)
		}
	}
}

// TestDevNullIsNotATerminal: /dev/null is a character device, not a
// terminal; a progress bar is not redrawn into it.
func TestDevNullIsNotATerminal(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("IsTerminal(/dev/null) = true")
	}
	if w := Width(f); w != 80 {
		t.Errorf("Width(/dev/null) = %d, want the default 80", w)
	}
}

func TestCohereSDKEnvNames(t *testing.T) {
	for _, tc := range []struct {
		env          map[string]string
		key, baseURL string
	}{
		{map[string]string{"CO_API_KEY": "k1", "CO_API_URL": "http://co"}, "k1", "http://co"},
		{map[string]string{"COHERE_API_KEY": "k2", "CO_API_KEY": "k1", "COHERE_BASE_URL": "http://cohere", "CO_API_URL": "http://co"}, "k2", "http://cohere"},
	} {
		for _, n := range []string{"COHERE_API_KEY", "CO_API_KEY", "COHERE_API_KEY_FILE", "COHERE_BASE_URL", "CO_API_URL"} {
			t.Setenv(n, tc.env[n])
		}
		e, err := ReadEnv()
		if err != nil || e.APIKey != tc.key || e.BaseURL != tc.baseURL {
			t.Errorf("env %v: key %q url %q err %v; want %q %q", tc.env, e.APIKey, e.BaseURL, err, tc.key, tc.baseURL)
		}
	}
}
