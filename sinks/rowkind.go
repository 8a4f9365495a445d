package sinks

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// RowKind is a kind of row an operation declares (pipeline.Op.RowKind): its
// name and its typed columns. Every sink writes any declared kind the same
// way, so an operation that declares one needs no writer of its own. Its
// rows (Row) have the key columns id, fingerprint and content_sha256 as
// well, in this order: id, the declared columns, fingerprint,
// content_sha256.
type RowKind struct {
	Name    string
	Columns []Column
}

// Column is one declared column: its name in the sink (lower case letters,
// digits and underscores, as the other kinds' columns are spelled, so that
// no engine needs it quoted) and the type of its values.
type Column struct {
	Name string
	Type ColumnType
}

// ColumnType is the type of a declared column, and so the Go type of its
// values in a Row: a value is nil (NULL) or exactly that type.
type ColumnType string

// The column types every sink maps (sinks/parquet, sinks/pgvector).
const (
	TypeText   ColumnType = "text"   // string
	TypeInt    ColumnType = "int"    // int64
	TypeFloat  ColumnType = "float"  // float64
	TypeBool   ColumnType = "bool"   // bool
	TypeJSON   ColumnType = "json"   // json.RawMessage holding one JSON value
	TypeVector ColumnType = "vector" // []float32
	TypeTime   ColumnType = "time"   // time.Time, kept to the microsecond
)

// Names of the key columns every declared kind has.
const (
	ColumnID            = "id"
	ColumnFingerprint   = "fingerprint"
	ColumnContentSHA256 = "content_sha256"
)

// Row is one record's result of a declared kind: the key columns (as
// Embedding's: a stored row with the same ContentSHA256 and Fingerprint
// is not paid for again) and one value per declared column, in order.
type Row struct {
	ID            string
	ContentSHA256 [32]byte
	Fingerprint   string
	Values        []any
}

// columnName is a name no sink needs to quote; 63 bytes is PostgreSQL's
// limit, past which it would cut the name silently.
var columnName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Validate reports what is wrong with a declared kind.
func (k *RowKind) Validate() error {
	if k.Name == "" {
		return errors.New("row kind without a name")
	}
	if len(k.Columns) == 0 {
		return fmt.Errorf("row kind %s: no columns", k.Name)
	}
	seen := map[string]bool{ColumnID: true, ColumnFingerprint: true, ColumnContentSHA256: true}
	for _, c := range k.Columns {
		switch {
		case !columnName.MatchString(c.Name):
			return fmt.Errorf("row kind %s: column %q: want lower case letters, digits and _, at most 63", k.Name, c.Name)
		case seen[c.Name]:
			return fmt.Errorf("row kind %s: column %s declared twice or a key column", k.Name, c.Name)
		}
		seen[c.Name] = true
		switch c.Type {
		case TypeText, TypeInt, TypeFloat, TypeBool, TypeJSON, TypeVector, TypeTime:
		default:
			return fmt.Errorf("row kind %s: column %s: unknown type %q", k.Name, c.Name, c.Type)
		}
	}
	return nil
}

// Check reports a row that does not fit the kind: an empty id, a value
// count other than the columns', a value of another Go type than its
// column's, a JSON value that is not JSON.
func (k *RowKind) Check(r *Row) error {
	if r.ID == "" {
		return fmt.Errorf("%s row with an empty id", k.Name)
	}
	if len(r.Values) != len(k.Columns) {
		return fmt.Errorf("%s row %q: %d values for %d columns", k.Name, r.ID, len(r.Values), len(k.Columns))
	}
	for i, c := range k.Columns {
		v := r.Values[i]
		if v == nil {
			continue
		}
		var ok bool
		switch c.Type {
		case TypeText:
			_, ok = v.(string)
		case TypeInt:
			_, ok = v.(int64)
		case TypeFloat:
			_, ok = v.(float64)
		case TypeBool:
			_, ok = v.(bool)
		case TypeJSON:
			var j json.RawMessage
			if j, ok = v.(json.RawMessage); ok && !json.Valid(j) {
				return fmt.Errorf("%s row %q: column %s: not JSON: %q", k.Name, r.ID, c.Name, j)
			}
		case TypeVector:
			_, ok = v.([]float32)
		case TypeTime:
			_, ok = v.(time.Time)
		}
		if !ok {
			return fmt.Errorf("%s row %q: column %s (%s) holds a %T", k.Name, r.ID, c.Name, c.Type, v)
		}
	}
	return nil
}
