package pipeline

import (
	"crypto/sha256"
	"fmt"

	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// A group's dataset and remote job have names of their own that every
// delivery of its tasks, and a re-run after the job store was lost, computes
// alike: before creating one the route looks it up by name and adopts it
// (cohere/create.go explains why a create is never simply sent again).

// datasetName names a group's dataset after the job, the group, the job's
// fingerprint (model and options) and the input ranges the group reads, so
// that a re-run over other input or options does not adopt a dataset kept
// from an earlier run (-keep-datasets).
func datasetName(spec Spec, def jobstore.AsyncGroup) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", spec.Fingerprint())
	for _, r := range def.Ranges {
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d\n", r.Path, r.Start, r.End, r.Records)
	}
	return fmt.Sprintf("%s-%x", remoteName(spec.ID, def.Number), h.Sum(nil)[:4])
}

// remoteJobName names a group's embed job or batch after the job, the group
// and its input dataset: a re-run that uploads a new dataset does not adopt
// the remote job an earlier run made from another one.
func remoteJobName(job string, g int, datasetID string) string {
	sum := sha256.Sum256([]byte(datasetID))
	return fmt.Sprintf("%s-%x", remoteName(job, g), sum[:4])
}
