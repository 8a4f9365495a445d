package passage

import (
	"fmt"
	"strconv"
	"strings"
)

// ID names passage index of document docID: "docID#0007". Past 9999 the
// index takes more digits ("docID#10000").
func ID(docID string, index int) string {
	return fmt.Sprintf("%s#%04d", docID, index)
}

// ParseID splits an id that ID made back into its document id and index.
// ok is false for any string ID does not produce, such as "d#7" or "d#01234".
func ParseID(id string) (docID string, index int, ok bool) {
	i := strings.LastIndexByte(id, '#')
	if i < 0 {
		return "", 0, false
	}
	digits := id[i+1:]
	if len(digits) < 4 || (len(digits) > 4 && digits[0] == '0') {
		return "", 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return "", 0, false
	}
	return id[:i], n, true
}
