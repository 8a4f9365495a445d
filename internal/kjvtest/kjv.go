package kjvtest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cobatch/cobatch/internal/testenv"
)

// Labels are the four book groups, in the Bible's order.
var Labels = []string{"Law", "History and Wisdom", "Prophets", "New Testament"}

// firstBooks are the books that open each group after the first: a verse
// takes the label of the last group opened before it.
var firstBooks = map[string]string{
	"Joshua":  "History and Wisdom", // Joshua – Song of Solomon
	"Isaiah":  "Prophets",           // Isaiah – Malachi
	"Matthew": "New Testament",
}

// Verse is one verse and its book group.
type Verse struct {
	testenv.Verse
	Label string
}

// Set is a labelled sample: Records spread evenly over the whole Bible,
// and Examples of each label taken from other verses.
type Set struct {
	Records  []Verse
	Examples []Verse
}

// Load reads the bundled verses in order, each with its label.
func Load() ([]Verse, error) {
	verses, err := testenv.ReadKJV(-1)
	if err != nil {
		return nil, err
	}
	all := make([]Verse, len(verses))
	label := Labels[0]
	for i, v := range verses {
		if l, ok := firstBooks[v.Book]; ok {
			label = l
		}
		all[i] = Verse{Verse: v, Label: label}
	}
	return all, nil
}

// Sample takes n verses at an even step from the first, and perLabel
// examples of each label from the verses between them.
func Sample(n, perLabel int) (Set, error) {
	all, err := Load()
	if err != nil {
		return Set{}, err
	}
	if n < 1 || len(all)/n < 3 {
		return Set{}, fmt.Errorf("sample of %d from %d verses: too many", n, len(all))
	}
	var s Set
	step := len(all) / n
	records := map[string]bool{}
	for i := range n {
		s.Records = append(s.Records, all[i*step])
		records[all[i*step].ID] = true
	}
	per := map[string]int{}
	for i := step / 2; i < len(all) && len(s.Examples) < perLabel*len(Labels); i += step / 3 {
		v := all[i]
		if records[v.ID] || per[v.Label] >= perLabel {
			continue
		}
		per[v.Label]++
		s.Examples = append(s.Examples, v)
	}
	if len(s.Examples) < perLabel*len(Labels) {
		return Set{}, fmt.Errorf("found %d examples, want %d of each label", len(s.Examples), perLabel)
	}
	return s, nil
}

// Majority is the label most records hold and how many hold it: the
// baseline an accuracy figure is set beside.
func (s Set) Majority() (string, int) {
	count := map[string]int{}
	for _, v := range s.Records {
		count[v.Label]++
	}
	best := Labels[0]
	for _, l := range Labels {
		if count[l] > count[best] {
			best = l
		}
	}
	return best, count[best]
}

// RecordsJSONL is the records as input lines: id, text and book.
func (s Set) RecordsJSONL() string {
	var b strings.Builder
	for _, v := range s.Records {
		line, _ := json.Marshal(map[string]string{"id": v.ID, "text": v.Text, "book": v.Book}) // strings always encode
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// ExamplesJSONL is the examples as an -examples file: text and label.
func (s Set) ExamplesJSONL() string {
	var b strings.Builder
	for _, v := range s.Examples {
		line, _ := json.Marshal(map[string]string{"text": v.Text, "label": v.Label})
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}
