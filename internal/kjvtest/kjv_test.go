package kjvtest

import (
	"slices"
	"testing"
)

// TestGroups: each book's verses carry its group, and the groups follow
// the Bible's order.
func TestGroups(t *testing.T) {
	all, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Genesis": "Law", "Deuteronomy": "Law", "Joshua": "History and Wisdom",
		"Song of Solomon": "History and Wisdom", "Isaiah": "Prophets", "Malachi": "Prophets", "Matthew": "New Testament", "Revelation": "New Testament"}
	seen := map[string]bool{}
	for _, v := range all {
		if l, ok := want[v.Book]; ok && v.Label != l {
			t.Fatalf("%s: %s, want %s", v.ID, v.Label, l)
		}
		seen[v.Book] = true
	}
	if len(all) != 31102 || len(seen) != 66 {
		t.Fatalf("%d verses in %d books, want 31102 in 66", len(all), len(seen))
	}
}

// TestSample: n distinct records, perLabel examples of each label, none of
// them a record.
func TestSample(t *testing.T) {
	s, err := Sample(500, 12)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, v := range s.Records {
		ids[v.ID] = true
	}
	per := map[string]int{}
	for _, e := range s.Examples {
		if ids[e.ID] {
			t.Fatalf("example %s is also a record", e.ID)
		}
		per[e.Label]++
	}
	if len(ids) != 500 || len(per) != 4 || slices.ContainsFunc(Labels, func(l string) bool { return per[l] != 12 }) {
		t.Fatalf("%d records, examples per label %v", len(ids), per)
	}
	if l, n := s.Majority(); l != "History and Wisdom" || n < 125 {
		t.Fatalf("majority %s %d", l, n)
	}
}
