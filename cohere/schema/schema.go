package schema

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ErrNotJSON is wrapped by the error of a reply that is not one JSON value.
var ErrNotJSON = errors.New("reply is not valid JSON")

// Schema is a compiled JSON Schema. It is safe for concurrent use.
type Schema struct {
	s *jsonschema.Schema
}

// Error says where and how a reply breaks the schema.
type Error struct {
	// Problems lists each failing location of the reply with its reason,
	// e.g. "/label: value must be one of 'a', 'b'".
	Problems []string
}

func (e *Error) Error() string {
	return "reply does not match the schema: " + strings.Join(e.Problems, "; ")
}

// location is the one resource name the compiler sees; nothing is loaded
// from it.
const location = "mem:///response_format.json_schema"

// Compile parses and compiles a JSON Schema document.
func Compile(doc []byte) (*Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("schema: json_schema is not valid JSON: %w", err)
	}
	if _, ok := v.(map[string]any); !ok {
		// The API's own wording for this mistake.
		return nil, errors.New("schema: schema must be an object")
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource(location, v); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	s, err := c.Compile(location)
	if err != nil {
		return nil, fmt.Errorf("schema: %s", strings.ReplaceAll(err.Error(), location, "json_schema"))
	}
	return &Schema{s: s}, nil
}

// Validate checks that reply is one JSON value that satisfies the schema.
func (s *Schema) Validate(reply []byte) error {
	v, err := decodeOne(reply)
	if err != nil {
		return err
	}
	err = s.s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("schema: %w", err)
	}
	return &Error{Problems: problems(ve)}
}

// Validate compiles doc and checks reply against it. A job checking many
// replies against one schema should Compile once instead.
func Validate(doc, reply []byte) error {
	s, err := Compile(doc)
	if err != nil {
		return err
	}
	return s.Validate(reply)
}

// decodeOne decodes reply keeping numbers exact, and refuses trailing data.
func decodeOne(reply []byte) (any, error) {
	if len(bytes.TrimSpace(reply)) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrNotJSON)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(reply))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	return v, nil
}

// problems flattens the error tree to its leaves, one per failing location,
// sorted: the validator visits an object's properties in map order, and a
// dead letter's reason should read the same every time.
func problems(ve *jsonschema.ValidationError) []string {
	var out []string
	for _, u := range ve.BasicOutput().Errors {
		if u.Error == nil {
			continue
		}
		msg := u.Error.String()
		if strings.HasPrefix(msg, "validation failed") {
			continue // an inner node; its leaves follow
		}
		loc := u.InstanceLocation
		if loc == "" {
			loc = "/"
		}
		out = append(out, loc+": "+msg)
	}
	if len(out) == 0 {
		out = append(out, strings.TrimSpace(ve.Error()))
	}
	slices.Sort(out)
	return out
}

// noLoader keeps "$ref" inside the schema: a reply check must not read
// files or reach the network.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("$ref to %s: only references inside the schema are allowed", url)
}
