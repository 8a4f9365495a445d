package cli

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/pipeline"
)

func chatSpec(t *testing.T, args ...string) (pipeline.Spec, error) {
	t.Helper()
	var j JobFlags
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	j.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	spec, _, err := j.Spec(Env{})
	return spec, err
}

// TestChatFlags: the template's fields are checked against the first
// record before the job starts; files given to -prompt-file, -system @FILE
// and -json-schema are read into the spec.
func TestChatFlags(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("in.jsonl", `{"id":"a","text":"first","title":"T"}`+"\n"+`{"id":"b","text":"second"}`+"\n")
	out := "parquet:" + dir

	_, err := chatSpec(t, "-op", "chat", "-in", in, "-sink", out, "-prompt", "{{.titel}}: {{.text}}")
	if err == nil || !strings.Contains(err.Error(), `field "titel"`) || !strings.Contains(err.Error(), "in.jsonl:1") {
		t.Fatalf("typo in the template: err %v, want the field and the first record named", err)
	}

	prompt := write("prompt.txt", "Summarise {{.title}}: {{.text}}")
	system := write("system.txt", "Be brief.")
	sch := write("schema.json", `{"type":"object","properties":{"s":{"type":"string"}},"required":["s"]}`)
	spec, err := chatSpec(t, "-op", "chat", "-in", in, "-sink", out, "-prompt-file", prompt, "-system", "@"+system,
		"-json-schema", sch, "-max-tokens", "50", "-temperature", "0.2", "-seed", "7", "-store-prompt")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Prompt != "Summarise {{.title}}: {{.text}}" || spec.System != "Be brief." || !strings.Contains(string(spec.JSONSchema), `"required"`) ||
		spec.MaxTokens != 50 || spec.Temperature != 0.2 || spec.Seed == nil || *spec.Seed != 7 || !spec.StorePrompt ||
		spec.Model != pipeline.DefaultChatModel || len(spec.Input.MetaFields) != 1 || spec.Input.MetaFields[0] != "title" {
		t.Fatalf("spec %+v", spec)
	}

	bad := write("bad.json", `{"type":"object","properties":{"n":{"type":"number","minimum":"x"}}}`)
	if _, err := chatSpec(t, "-op", "chat", "-in", in, "-sink", out, "-prompt", "{{.text}}", "-json-schema", bad); err == nil || !strings.Contains(err.Error(), "-json-schema") {
		t.Fatalf("bad schema: err %v", err)
	}
	if _, err := chatSpec(t, "-in", in, "-sink", out, "-prompt", "{{.text}}"); err == nil || !strings.Contains(err.Error(), "-op chat") {
		t.Fatalf("-prompt on an embed job: err %v", err)
	}
}

// TestMaxCostNeedsOutputPrice: under -max-cost, a job that pays output
// tokens (chat, classify -via chat or auto resolving to chat) with a model
// of no list price and only -price-per-mtok is refused: its output tokens
// would count for nothing in the budget.
func TestMaxCostNeedsOutputPrice(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(`{"id":"a","text":"first"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := "parquet:" + dir
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"chat", []string{"-op", "chat", "-prompt", "{{.text}}", "-max-tokens", "100", "-model", "command-private-x"}},
		{"classify chat", []string{"-op", "classify", "-via", "chat", "-labels", "a,b", "-model", "command-private-x"}},
		{"classify auto", []string{"-op", "classify", "-via", "auto", "-labels", "a,b", "-model", "command-private-x"}},
	} {
		base := append([]string{"-in", in, "-sink", out, "-max-cost", "5", "-price-per-mtok", "1"}, tc.args...)
		if _, err := chatSpec(t, base...); err == nil || !strings.Contains(err.Error(), "-price-per-mtok-out") {
			t.Errorf("%s without -price-per-mtok-out: err %v, want it asked for", tc.name, err)
		}
		spec, err := chatSpec(t, append(base, "-price-per-mtok-out", "4")...)
		if err != nil || spec.PriceOut() != 4 {
			t.Errorf("%s with -price-per-mtok-out 4: err %v, price out %g", tc.name, err, spec.PriceOut())
		}
	}
}
