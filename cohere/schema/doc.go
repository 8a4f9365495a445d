// Package schema checks a structured chat reply against the JSON Schema of
// the request's response_format, as a bulk job must before it writes the
// reply: the API promises the shape, but a reply cut short by max_tokens, or
// a model that strays, can still break it.
//
//	s, err := schema.Compile(schemaJSON) // once per job
//	if err != nil {
//		return err // the schema itself is wrong: a settings error
//	}
//	for _, reply := range replies {
//		if err := s.Validate([]byte(reply)); err != nil {
//			// errors.Is(err, schema.ErrNotJSON) or a *schema.Error naming
//			// where the reply breaks the schema.
//		}
//	}
//
// [Validate] compiles and checks in one call. Schemas follow JSON Schema
// draft 2020-12 unless they name another draft in "$schema"; "$ref" may
// point only inside the schema, never to a file or a URL.
package schema
