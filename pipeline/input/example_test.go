package input_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/cobatch/cobatch/pipeline/input"
)

func Example() {
	ctx := context.Background()
	opts := input.Options{
		Format:     input.FormatJSONL,
		MetaFields: []string{"lang"},
		Stdin: strings.NewReader(`{"id":1,"text":"first","lang":"en"}` + "\n\n" +
			`{"id":2,"text":""}` + "\n" +
			`{"id":3,"text":"third"}` + "\n"),
	}
	var ranges []input.Range
	err := input.Split(ctx, []string{"-"}, opts, 2, func(r input.Range) error {
		ranges = append(ranges, r)
		return nil
	})
	if err != nil {
		panic(err)
	}
	for _, r := range ranges {
		fmt.Printf("range: lines %d-%d, %d records\n", r.FirstLine, r.FirstLine+int64(r.Lines)-1, r.Records)
		err := input.Read(ctx, r, opts, func(rec input.Record) error {
			if rec.Err != nil {
				fmt.Println("  bad:", rec.Err)
				return nil
			}
			fmt.Printf("  %s %q %s\n", rec.ID, rec.Text, rec.Meta)
			return nil
		})
		if err != nil {
			panic(err)
		}
	}
	// Output:
	// range: lines 1-3, 2 records
	//   1 "first" {"lang":"en"}
	//   bad: -:3: field "text": empty text
	// range: lines 4-4, 1 records
	//   3 "third" {}
}
