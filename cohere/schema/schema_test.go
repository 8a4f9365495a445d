package schema_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/cobatch/cobatch/cohere/schema"
)

const ticket = `{
  "type": "object",
  "properties": {
    "label": {"type": "string", "enum": ["bug", "feature", "question"]},
    "score": {"type": "number", "minimum": 0, "maximum": 1},
    "title": {"type": "string", "minLength": 1},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    "owner": {"type": "object", "properties": {"team": {"type": "string"}}, "required": ["team"], "additionalProperties": false}
  },
  "required": ["label", "score", "title"],
  "additionalProperties": false
}`

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		reply   string
		notJSON bool
		want    []string // problems, in order; nil means valid
	}{
		{name: "valid", reply: `{"label":"bug","score":0.25,"title":"crash on start","tags":["ui"],"owner":{"team":"core"}}`},
		{name: "valid bounds", reply: `{"label":"question","score":1,"title":"x"}`},
		{name: "enum", reply: `{"label":"spam","score":0.5,"title":"x"}`, want: []string{"/label: value must be one of 'bug', 'feature', 'question'"}},
		{name: "above maximum", reply: `{"label":"bug","score":1.5,"title":"x"}`, want: []string{"/score: maximum: got 1.5, want 1"}},
		{name: "missing", reply: `{"label":"bug","score":0.5}`, want: []string{"/: missing property 'title'"}},
		{name: "extra", reply: `{"label":"bug","score":0.5,"title":"x","why":"?"}`, want: []string{"/: additional properties 'why' not allowed"}},
		{name: "nested", reply: `{"label":"bug","score":0.5,"title":"x","owner":{}}`, want: []string{"/owner: missing property 'team'"}},
		{name: "two problems", reply: `{"label":"bug","score":"high","title":""}`, want: []string{"/score: got string, want number", "/title: minLength: got 0, want 1"}},
		{name: "array", reply: `[]`, want: []string{"/: got array, want object"}},
		{name: "truncated", reply: `{"label":"bug","sco`, notJSON: true},
		{name: "trailing", reply: `{"label":"bug","score":0,"title":"x"} more`, notJSON: true},
		{name: "empty", reply: ` `, notJSON: true},
	}
	s, err := schema.Compile([]byte(ticket))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := s.Validate([]byte(tt.reply))
			if one := schema.Validate([]byte(ticket), []byte(tt.reply)); (one == nil) != (err == nil) {
				t.Errorf("Validate and Schema.Validate disagree: %v vs %v", one, err)
			}
			switch {
			case tt.notJSON:
				if !errors.Is(err, schema.ErrNotJSON) {
					t.Errorf("err = %v, want ErrNotJSON", err)
				}
			case tt.want == nil:
				if err != nil {
					t.Errorf("err = %v", err)
				}
			default:
				var se *schema.Error
				if !errors.As(err, &se) {
					t.Fatalf("err = %v, want *schema.Error", err)
				}
				if strings.Join(se.Problems, " | ") != strings.Join(tt.want, " | ") {
					t.Errorf("problems = %q\nwant       %q", se.Problems, tt.want)
				}
				if !strings.HasPrefix(err.Error(), "reply does not match the schema: ") {
					t.Errorf("message = %q", err)
				}
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, doc, want string }{
		{"not json", `{"type":`, "json_schema is not valid JSON"},
		{"not an object", `["string"]`, "schema must be an object"},
		{"bad keyword value", `{"type":"strin"}`, "json_schema"},
		{"remote ref", `{"$ref":"https://example.com/s.json"}`, "only references inside the schema are allowed"},
		{"file ref", `{"$ref":"file:///etc/passwd"}`, "only references inside the schema are allowed"},
	} {
		_, err := schema.Compile([]byte(tt.doc))
		if err == nil || !strings.HasPrefix(err.Error(), "schema: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := schema.Compile([]byte(`{"$defs":{"l":{"enum":["a"]}},"properties":{"x":{"$ref":"#/$defs/l"}}}`)); err != nil {
		t.Errorf("local $ref: %v", err)
	}
}

// TestConcurrent: one compiled schema serves many goroutines (go test -race).
func TestConcurrent(t *testing.T) {
	t.Parallel()
	s, err := schema.Compile([]byte(ticket))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			reply := `{"label":"bug","score":0.5,"title":"x"}`
			if i%2 == 1 {
				reply = `{"label":"nope","score":0.5,"title":"x"}`
			}
			errs[i] = s.Validate([]byte(reply))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i%2 == 1) {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
}
