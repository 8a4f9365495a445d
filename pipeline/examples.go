package pipeline

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/cobatch/cobatch/cohere"
)

// ReadExamples reads classify examples from a JSONL file of {"text",
// "label"} objects or a CSV file with text and label columns (by extension:
// .csv is CSV, anything else JSONL), and validates them as the API would.
// Errors name the file and line, so that a bad example stops the job before
// any call.
func ReadExamples(path string) ([]cohere.ClassifyExample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("examples: %w", err)
	}
	defer f.Close()
	var ex []cohere.ClassifyExample
	var lines []int
	if strings.HasSuffix(strings.ToLower(path), ".csv") {
		ex, lines, err = readExamplesCSV(path, f)
	} else {
		ex, lines, err = readExamplesJSONL(path, f)
	}
	if err != nil {
		return nil, err
	}
	count := map[string]int{}
	for _, e := range ex {
		count[e.Label]++
	}
	for i, e := range ex {
		if count[e.Label] == 1 && len(count) >= 2 {
			return nil, fmt.Errorf("examples %s:%d: label %q has 1 example; every label needs at least 2", path, lines[i], e.Label)
		}
	}
	if err := ValidateExamples(ex); err != nil {
		return nil, fmt.Errorf("examples %s: %w", path, err)
	}
	return ex, nil
}

func readExamplesJSONL(path string, r io.Reader) ([]cohere.ClassifyExample, []int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var ex []cohere.ClassifyExample
	var lines []int
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var e struct {
			Text  *string `json:"text"`
			Label *string `json:"label"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, nil, fmt.Errorf("examples %s:%d: invalid JSON: %v", path, line, err)
		}
		if e.Text == nil || strings.TrimSpace(*e.Text) == "" {
			return nil, nil, fmt.Errorf("examples %s:%d: missing or empty \"text\"", path, line)
		}
		if e.Label == nil || strings.TrimSpace(*e.Label) == "" {
			return nil, nil, fmt.Errorf("examples %s:%d: missing or empty \"label\"", path, line)
		}
		ex = append(ex, cohere.ClassifyExample{Text: *e.Text, Label: *e.Label})
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("examples %s: %w", path, err)
	}
	return ex, lines, nil
}

func readExamplesCSV(path string, r io.Reader) ([]cohere.ClassifyExample, []int, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("examples %s:1: header: %w", path, err)
	}
	ti, li := slices.Index(header, "text"), slices.Index(header, "label")
	if ti < 0 || li < 0 {
		return nil, nil, fmt.Errorf("examples %s:1: the header needs text and label columns, has %s", path, strings.Join(header, ","))
	}
	var ex []cohere.ClassifyExample
	var lines []int
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return ex, lines, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, nil, fmt.Errorf("examples %s: %w", path, err)
		}
		if ti >= len(rec) || li >= len(rec) || strings.TrimSpace(rec[ti]) == "" || strings.TrimSpace(rec[li]) == "" {
			return nil, nil, fmt.Errorf("examples %s:%d: missing or empty text or label", path, line)
		}
		ex = append(ex, cohere.ClassifyExample{Text: rec[ti], Label: rec[li]})
		lines = append(lines, line)
	}
}
