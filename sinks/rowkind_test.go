package sinks_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cobatch/cobatch/sinks"
)

func TestRowKindValidate(t *testing.T) {
	t.Parallel()
	col := func(name string, typ sinks.ColumnType) []sinks.Column { return []sinks.Column{{Name: name, Type: typ}} }
	tests := []struct {
		name string
		kind sinks.RowKind
		want string // "" for a valid kind
	}{
		{"valid", sinks.RowKind{Name: "k", Columns: []sinks.Column{{"a_1", sinks.TypeText}, {"b", sinks.TypeVector}}}, ""},
		{"no name", sinks.RowKind{Columns: col("a", sinks.TypeText)}, "without a name"},
		{"no columns", sinks.RowKind{Name: "k"}, "no columns"},
		{"upper case", sinks.RowKind{Name: "k", Columns: col("Label", sinks.TypeText)}, `"Label"`},
		{"leading digit", sinks.RowKind{Name: "k", Columns: col("1a", sinks.TypeText)}, `"1a"`},
		{"too long", sinks.RowKind{Name: "k", Columns: col(strings.Repeat("a", 64), sinks.TypeText)}, "at most 63"},
		{"key column", sinks.RowKind{Name: "k", Columns: col("content_sha256", sinks.TypeText)}, "content_sha256"},
		{"twice", sinks.RowKind{Name: "k", Columns: []sinks.Column{{"a", sinks.TypeText}, {"a", sinks.TypeInt}}}, "declared twice"},
		{"unknown type", sinks.RowKind{Name: "k", Columns: col("a", "decimal")}, `"decimal"`},
	}
	for _, tc := range tests {
		err := tc.kind.Validate()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestRowKindCheck(t *testing.T) {
	t.Parallel()
	k := &sinks.RowKind{Name: "k", Columns: []sinks.Column{
		{"t", sinks.TypeText}, {"i", sinks.TypeInt}, {"f", sinks.TypeFloat}, {"b", sinks.TypeBool},
		{"j", sinks.TypeJSON}, {"v", sinks.TypeVector}, {"at", sinks.TypeTime},
	}}
	good := []any{"x", int64(1), 0.5, true, json.RawMessage(`[1]`), []float32{1}, time.Now()}
	if err := k.Check(&sinks.Row{ID: "r", Values: good}); err != nil {
		t.Errorf("Check(good) = %v", err)
	}
	if err := k.Check(&sinks.Row{ID: "r", Values: make([]any, 7)}); err != nil {
		t.Errorf("Check(all null) = %v", err)
	}
	for i, wrong := range []any{[]byte("x"), 1, float32(0.5), "true", `[1]`, []float64{1}, time.Now().Unix()} {
		vals := append([]any(nil), good...)
		vals[i] = wrong
		if err := k.Check(&sinks.Row{ID: "r", Values: vals}); err == nil || !strings.Contains(err.Error(), k.Columns[i].Name) {
			t.Errorf("Check(%T in %s) = %v, want an error naming the column", wrong, k.Columns[i].Name, err)
		}
	}
	for name, r := range map[string]sinks.Row{
		"empty id":   {Values: good},
		"short":      {ID: "r", Values: good[:6]},
		"not JSON":   {ID: "r", Values: append(append([]any(nil), good[:4]...), json.RawMessage(`{`), good[5], good[6])},
		"empty JSON": {ID: "r", Values: append(append([]any(nil), good[:4]...), json.RawMessage(nil), good[5], good[6])},
	} {
		if err := k.Check(&r); err == nil {
			t.Errorf("Check(%s) passed", name)
		}
	}
}
