package jobstore

import (
	"context"
	"testing"

	"github.com/cobatch/cobatch/internal/testenv"
)

// A chunk delivered again finds its own ids its own; another chunk's are
// duplicates naming where the first occurrence stands.
func TestClaimIDsKeyedByChunk(t *testing.T) {
	rdb, _ := testenv.RedisClient(t)
	st := New[struct{}](rdb)
	ctx := context.Background()
	first := []IDClaim{{ID: "a", At: "in.jsonl:1"}, {ID: "b", At: "in.jsonl:2"}}
	for range 2 { // the second: a redelivery of chunk 0
		dups, err := st.ClaimIDs(ctx, "claims", 0, first)
		if err != nil || len(dups) != 0 {
			t.Fatalf("chunk 0: dups %v, err %v; want none", dups, err)
		}
	}
	dups, err := st.ClaimIDs(ctx, "claims", 1, []IDClaim{{ID: "b", At: "in.jsonl:9"}, {ID: "c", At: "in.jsonl:10"}})
	if err != nil || len(dups) != 1 || dups["b"] != "in.jsonl:2" {
		t.Fatalf("chunk 1: dups %v, err %v; want b at in.jsonl:2", dups, err)
	}
	// Chunk 1 again: c is its own, b still chunk 0's.
	dups, err = st.ClaimIDs(ctx, "claims", 1, []IDClaim{{ID: "b", At: "in.jsonl:9"}, {ID: "c", At: "in.jsonl:10"}})
	if err != nil || len(dups) != 1 || dups["b"] != "in.jsonl:2" {
		t.Fatalf("chunk 1 redelivered: dups %v, err %v", dups, err)
	}
	// A restarted job claims anew.
	if err := st.Restart(ctx, "claims"); err != nil {
		t.Fatal(err)
	}
	dups, err = st.ClaimIDs(ctx, "claims", 1, []IDClaim{{ID: "b", At: "in.jsonl:9"}})
	if err != nil || len(dups) != 0 {
		t.Fatalf("after restart: dups %v, err %v", dups, err)
	}
	if n, _ := rdb.Exists(ctx, "cobatch:{claims}:ids").Result(); n != 1 {
		t.Fatalf("the claims key is not cobatch:{claims}:ids")
	}
}
