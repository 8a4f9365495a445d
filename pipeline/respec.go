package pipeline

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Options a job run again under the same id may change: they take effect
// from this run on (the stored spec is replaced). Every other option
// decides where a record goes or what it becomes, so a run that changes one
// is refused, naming it. Keys are the spec's JSON names.
var changeableOptions = map[string]bool{
	"force":          true, // -force
	"strict":         true, // -strict
	"price_per_mtok": true, // -price-per-mtok
	"max_cost":       true, // -max-cost
	"created_at":     true, // not an option
}

// specChanges returns the JSON names of the options that differ between a
// stored spec and a new one, split into those a run may change and those it
// may not; input options are named input.NAME.
func specChanges(old, cur Spec) (changeable, fixed []string) {
	a, b := flatSpec(old), flatSpec(cur)
	for k := range b {
		if _, ok := a[k]; !ok {
			a[k] = nil
		}
	}
	for k, v := range a {
		if bytes.Equal(v, b[k]) {
			continue
		}
		if changeableOptions[k] {
			changeable = append(changeable, k)
		} else {
			fixed = append(fixed, k)
		}
	}
	slices.Sort(changeable)
	slices.Sort(fixed)
	return changeable, fixed
}

// flatSpec is a spec's JSON fields by name, those of its input options as
// input.NAME.
func flatSpec(s Spec) map[string]json.RawMessage {
	s.ID = ""
	b, _ := json.Marshal(s)
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(b, &m)
	var in map[string]json.RawMessage
	if json.Unmarshal(m["input"], &in) == nil {
		delete(m, "input")
		for k, v := range in {
			m["input."+k] = v
		}
	}
	delete(m, "id")
	return m
}
