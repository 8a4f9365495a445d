package migrations_test

import (
	"context"
	"sync"
	"testing"

	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/migrations"
)

func TestUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.PGPool(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = migrations.Up(ctx, pool) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("starter %d: %v", i, err)
		}
	}
	if err := migrations.Up(ctx, pool); err != nil {
		t.Fatalf("second run: %v", err)
	}
	var applied int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+migrations.VersionTable+" WHERE version_id > 0").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Fatalf("migration rows = %d, want 1", applied)
	}
	for _, table := range []string{"cobatch_jobs", "cobatch_chunks", "cobatch_failures"} {
		var ok bool
		if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil || !ok {
			t.Fatalf("table %s missing (%v)", table, err)
		}
	}
}
