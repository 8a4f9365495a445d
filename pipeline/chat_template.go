package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/cobatch/cobatch/pipeline/input"
)

// chatTemplate is a job's prompt template and the record fields it reads
// at its top level (inside range and with the dot is something else).
type chatTemplate struct {
	t      *template.Template
	fields []string
}

func parseChatTemplate(text string) (*chatTemplate, error) {
	t, err := template.New("prompt").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	ct := &chatTemplate{t: t}
	seen := map[string]bool{}
	add := func(f string) {
		if !seen[f] {
			seen[f] = true
			ct.fields = append(ct.fields, f)
		}
	}
	var walk func(n parse.Node, top bool)
	// branch walks an if, range or with; range and with set the dot
	// inside their list, where a field is no longer the record's.
	branch := func(b *parse.BranchNode, top, listTop bool) {
		walk(b.Pipe, top)
		walk(b.List, listTop)
		walk(b.ElseList, top)
	}
	walk = func(n parse.Node, top bool) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c, top)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe, top)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c, top)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a, top)
			}
		case *parse.FieldNode:
			if top {
				add(n.Ident[0])
			}
		case *parse.VariableNode:
			if len(n.Ident) > 1 && n.Ident[0] == "$" {
				add(n.Ident[1])
			}
		case *parse.ChainNode:
			walk(n.Node, top)
		case *parse.IfNode:
			branch(&n.BranchNode, top, top)
		case *parse.RangeNode:
			branch(&n.BranchNode, top, false)
		case *parse.WithNode:
			branch(&n.BranchNode, top, false)
		case *parse.TemplateNode:
			walk(n.Pipe, top)
		}
	}
	walk(t.Tree.Root, true)
	return ct, nil
}

// render fills the template with a record's fields. A field the template
// reads that the record lacks is an error naming it.
func (ct *chatTemplate) render(rec input.Record) (string, error) {
	data := map[string]any{}
	if len(rec.Meta) > 0 {
		dec := json.NewDecoder(bytes.NewReader(rec.Meta))
		dec.UseNumber() // numbers print as the input wrote them
		if err := dec.Decode(&data); err != nil {
			return "", fmt.Errorf("record fields: %v", err)
		}
	}
	data["id"], data["text"] = rec.ID, rec.Text
	for _, f := range ct.fields {
		if _, ok := data[f]; !ok {
			return "", fmt.Errorf("prompt template reads field %q, which the record lacks", f)
		}
	}
	var b strings.Builder
	if err := ct.t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("prompt template: %v", err)
	}
	if strings.TrimSpace(b.String()) == "" {
		return "", errors.New("prompt template renders an empty prompt")
	}
	return b.String(), nil
}

// errFirstRecord stops the read at the first record.
var errFirstRecord = errors.New("first record read")

// chatPrecheck renders the template over the job's first good record, so
// that a template naming a field the input does not have stops the job
// before it starts rather than dead-lettering every record.
func chatPrecheck(ctx context.Context, s Spec) error {
	ct, err := parseChatTemplate(s.Prompt)
	if err != nil {
		return fmt.Errorf("-prompt: %w", err)
	}
	var first error
	found := false
	err = input.Split(ctx, s.Inputs, s.Input, s.ChunkSize, func(r input.Range) error {
		if r.Path == "-" || r.Data != nil {
			return errFirstRecord // stdin cannot be read ahead: its records are checked as they come
		}
		rerr := input.Read(ctx, r, s.Input, func(rec input.Record) error {
			if rec.Err != nil {
				return nil
			}
			found = true
			if _, err := ct.render(rec); err != nil {
				first = fmt.Errorf("-prompt: %s:%d (id %q): %w", rec.File, rec.Line, rec.ID, err)
			}
			return errFirstRecord
		})
		if errors.Is(rerr, errFirstRecord) || found {
			return errFirstRecord
		}
		return rerr
	})
	if err != nil && !errors.Is(err, errFirstRecord) {
		return err
	}
	return first
}

// ChatEstimateOutput is the reply length a chat estimate assumes per record
// when -max-tokens is not given (the bound is the model's maximum, far
// above a typical reply).
const ChatEstimateOutput = 500

// chatEstimate counts a chat job's records and reckons its input tokens
// from the rendered prompts (system prompt included) of the first 1,000
// records, about 4 bytes a token, and its output tokens from -max-tokens:
// an upper bound when -max-tokens is given.
func chatEstimate(ctx context.Context, s Spec) (Estimate, error) {
	e := Estimate{Price: s.Price(), PriceOut: s.PriceOut()}
	ct, err := parseChatTemplate(s.Prompt)
	if err != nil {
		return e, err
	}
	var sampled, bytes int64
	err = input.Split(ctx, s.Inputs, s.Input, s.ChunkSize, func(r input.Range) error {
		if r.Path == "-" || r.Data != nil {
			return errors.New("stdin cannot be estimated ahead")
		}
		e.Records += int64(r.Records)
		if sampled >= estimateSample {
			return nil
		}
		return input.Read(ctx, r, s.Input, func(rec input.Record) error {
			if rec.Err != nil || sampled >= estimateSample {
				return nil
			}
			if p, err := ct.render(rec); err == nil {
				sampled++
				bytes += int64(len(p) + len(s.System))
			}
			return nil
		})
	})
	if err != nil {
		return e, fmt.Errorf("estimate: %w", err)
	}
	e.Calls = e.Records
	if sampled > 0 {
		e.Tokens = (bytes*e.Records/sampled + 3) / 4
	}
	e.OutputTokens = s.replyBound() * e.Records
	e.Cost = Cost(e.Price, e.Tokens, 0) + Cost(e.PriceOut, e.OutputTokens, 0)
	return e, nil
}
