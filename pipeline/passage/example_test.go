package passage_test

import (
	"fmt"
	"log"

	"github.com/cobatch/cobatch/pipeline/passage"
)

func ExampleSpec_Split() {
	spec, err := passage.Parse("tokens:64,overlap:16")
	if err != nil {
		log.Fatal(err)
	}
	doc := "In the beginning was the Word. And the Word was with God.\n\nThe same was in the beginning with God."
	for _, p := range spec.Split(doc) {
		fmt.Printf("%s [%d,%d) %q\n", passage.ID("John 1", p.Index), p.CharStart, p.CharEnd, p.Text)
	}
	// Output:
	// John 1#0000 [0,59) "In the beginning was the Word. And the Word was with God.\n\n"
	// John 1#0001 [44,98) "was with God.\n\nThe same was in the beginning with God."
}
