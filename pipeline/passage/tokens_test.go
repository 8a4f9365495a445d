package passage

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
)

// TestTokensBoundsRealTokenizer holds the estimate against the only real
// tokenizer output there is to hand: the API reference's /v1/tokenize
// example and its alternative response.
func TestTokensBoundsRealTokenizer(t *testing.T) {
	t.Parallel()
	var req struct {
		Text string `json:"text"`
	}
	readJSON(t, "../../cohere/testdata/fixtures/tokenize_request.json", &req)
	for _, name := range []string{"tokenize_response.json", "tokenize_response_alt_schema_example.json"} {
		var resp struct {
			Tokens       []int    `json:"tokens"`
			TokenStrings []string `json:"token_strings"`
		}
		readJSON(t, "../../cohere/testdata/fixtures/"+name, &resp)
		if len(resp.Tokens) == 0 || len(resp.Tokens) != len(resp.TokenStrings) {
			t.Fatalf("%s: %d tokens, %d strings", name, len(resp.Tokens), len(resp.TokenStrings))
		}
		if Tokens(req.Text) < len(resp.Tokens) {
			t.Fatalf("%s: estimate %d for %q, the API counts %d", name, Tokens(req.Text), req.Text, len(resp.Tokens))
		}
		// Every token stands for at least one byte: the reason the bound holds.
		for _, s := range resp.TokenStrings {
			if len(s) < 1 {
				t.Fatalf("%s: empty token string in %q", name, resp.TokenStrings)
			}
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestLimit(t *testing.T) {
	t.Parallel()
	l := Limit{Model: "embed-english-v3.0", Context: 512}
	if l.Usable() != 508 {
		t.Fatalf("Usable = %d, want 508", l.Usable())
	}
	tests := []struct {
		text string
		want bool
	}{
		{strings.Repeat("a", 508), false},
		{strings.Repeat("a", 509), true},
		{strings.Repeat("é", 254), false}, // 508 bytes
		{strings.Repeat("é", 255), true},
		{"", false},
	}
	for _, tt := range tests {
		if got := l.Truncates(tt.text); got != tt.want {
			t.Errorf("Truncates(%d bytes) = %v, want %v", len(tt.text), got, tt.want)
		}
	}
	if err := l.Check(Spec{Mode: SplitTokens, MaxTokens: 508}); err != nil {
		t.Errorf("Check(tokens:508) = %v", err)
	}
	err := l.Check(Spec{Mode: SplitTokens, MaxTokens: 512, Overlap: 10})
	want := "-split tokens:512,overlap:10: passages of 512 tokens do not fit model embed-english-v3.0, which reads 508 tokens (512 less 4 reserved); use tokens:508 or less"
	if err == nil || err.Error() != want {
		t.Errorf("Check(tokens:512) = %v, want %q", err, want)
	}
	for _, s := range []Spec{{}, {Mode: SplitParagraphs}} {
		if err := l.Check(s); err != nil {
			t.Errorf("Check(%s) = %v", s, err)
		}
	}
	if _, err := LimitOf(cohere.Model{Name: "embed-english-v3.0-image", ContextLength: 0}); err == nil ||
		err.Error() != "model embed-english-v3.0-image: context length 0 leaves no room for text" {
		t.Errorf("LimitOf(context 0) = %v", err)
	}
}

// TestLimitAgainstFake reads a model's context through the client's models
// call and embeds with truncate NONE, which the fake refuses for any text
// over the model's context: every passage of tokens:N that Check lets
// through is accepted, and every book Truncates passes is one the fake
// would have cut.
func TestLimitAgainstFake(t *testing.T) {
	t.Parallel()
	srv := coheretest.NewServer()
	defer srv.Close()
	client, err := cohere.New(cohere.Config{BaseURL: srv.URL, APIKey: coheretest.DefaultAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := client.GetModel(ctx, "embed-english-v3.0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := LimitOf(*m)
	if err != nil {
		t.Fatal(err)
	}
	if l != (Limit{Model: "embed-english-v3.0", Context: 512}) {
		t.Fatalf("LimitOf = %+v", l)
	}
	spec := Spec{Mode: SplitTokens, MaxTokens: l.Usable(), Overlap: 32}
	if err := l.Check(spec); err != nil {
		t.Fatal(err)
	}
	books := kjvBooks(t)
	embed := func(texts []string) error {
		_, err := client.Embed(ctx, &cohere.EmbedRequest{
			Model: l.Model, InputType: cohere.InputSearchDocument, Texts: texts,
			EmbeddingTypes: []cohere.EmbeddingType{cohere.EmbeddingFloat}, Truncate: "NONE",
		})
		return err
	}
	// Ruth, a short book: split it and send every passage.
	ps := spec.Split(books[7])
	var batch []string
	for _, p := range ps {
		batch = append(batch, p.Text)
		if len(batch) == 96 {
			if err := embed(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := embed(batch); err != nil {
		t.Fatal(err)
	}
	// Whole texts (-split none): every text the fake refuses is flagged;
	// "Selah. "*73 (511 bytes, 128 fake tokens) is flagged but accepted,
	// the over-count the bound pays for never under-counting.
	var flagged, refused int
	for _, text := range []string{books[7], books[30], strings.Repeat("Selah. ", 72), strings.Repeat("Selah. ", 73)} {
		err := embed([]string{text})
		if err != nil {
			refused++
			if !l.Truncates(text) {
				t.Fatalf("fake refused a %d-byte text Truncates passes: %v", len(text), err)
			}
		}
		if l.Truncates(text) {
			flagged++
		}
	}
	if refused != 2 || flagged != 3 {
		t.Fatalf("fake refused %d texts, Truncates flagged %d; want 2 and 3", refused, flagged)
	}
}
