package parquet

import (
	"path/filepath"
)

// pruneParts removes the part files and dead-letter parts of chunks from
// chunks on: an earlier run of the job, on a longer input, wrote them, and
// readers of the directory or the manifest must not see its rows.
func pruneParts(dir string, chunks int) error {
	for _, d := range []struct{ dir, suffix string }{
		{dir, ".parquet"},
		{filepath.Join(dir, failedDir), ".jsonl"},
	} {
		parts, err := listParts(d.dir, "part-", d.suffix)
		if err != nil {
			return err
		}
		for _, p := range parts {
			if p.chunk < chunks {
				continue
			}
			if err := removeIfExists(filepath.Join(d.dir, p.name)); err != nil {
				return err
			}
		}
	}
	return nil
}
