package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/sinks"
)

// The embed route of a classify job: the examples are embedded once per job
// (input_type classification) into one centroid per label, the normalised
// mean of its examples' unit vectors, stored in the job store; each record
// is embedded likewise and scored by its cosine to each centroid.
//
// Centroids rather than nearest neighbours: one vector per label keeps the
// job's stored data and the per-record work to the number of labels, and a
// mislabelled or odd example moves its label's centroid a little instead of
// capturing every record near it.
//
// Confidence is a softmax of the cosines, exp(s·cos_l) / Σ exp(s·cos_k)
// with s = CentroidSharpness: the per-label scores in labels sum to 1 and
// the predicted label's is confidence. With -multi-label a record takes
// every label whose score is at least 1/len(labels), the share of a record
// no centroid stands out for.

// CentroidSharpness scales cosines before the softmax: cosine gaps between
// labels are small (a few hundredths), and without it every confidence
// would sit near 1/len(labels).
const CentroidSharpness = 20

// centroidsClaim bounds how long one worker may hold the embedding of a
// job's examples before another takes it over.
const centroidsClaim = 2 * time.Minute

// classifyEmbedSpec is the spec of the route's embed calls: float vectors
// for classification, the model's default dimension.
func classifyEmbedSpec(spec Spec) Spec {
	spec.InputType = "classification"
	spec.EmbeddingTypes = []string{"float"}
	return spec
}

// classifyViaEmbed labels records by their nearest centroids; a text the
// API rejected has no verdict but its reason.
func classifyViaEmbed(ctx context.Context, d *Deps, spec Spec, p ChunkPayload, todo []item) (verdict func(item) (*sinks.Classification, string), err error) {
	cents, err := centroids(ctx, d, spec)
	if err != nil {
		return nil, err
	}
	// As an embed job: calls sized to the limiter, each checkpointed.
	rows, failed, err := embedItems(ctx, d, classifyEmbedSpec(spec), newCheckpoint(d.Store, spec, p.Chunk), todo)
	if err != nil {
		return nil, err
	}
	vecs := make(map[string][]float32, len(rows))
	for _, r := range rows {
		vecs[r.ID] = r.Float
	}
	reasons := make(map[string]string, len(failed))
	for _, f := range failed {
		reasons[f.ID] = f.Reason
	}
	return func(it item) (*sinks.Classification, string) {
		v, ok := vecs[it.rec.ID]
		if !ok {
			return nil, reasons[it.rec.ID]
		}
		label, conf, scores, multi := nearestCentroid(v, spec.Labels, cents, spec.MultiLabel)
		return &sinks.Classification{Label: label, Confidence: &conf, Labels: scores, LabelsPredicted: multi, Route: ViaEmbed}, ""
	}, nil
}

// nearestCentroid scores v against each label's centroid (see the top of
// this file).
func nearestCentroid(v []float32, labels []string, cents map[string][]float32, multi bool) (string, float32, map[string]float32, []string) {
	cos := make([]float64, len(labels))
	top := math.Inf(-1)
	for i, l := range labels {
		cos[i] = CentroidSharpness * dot(unit(v), cents[l])
		top = max(top, cos[i])
	}
	var sum float64
	for i := range cos {
		cos[i] = math.Exp(cos[i] - top)
		sum += cos[i]
	}
	scores := make(map[string]float32, len(labels))
	best, bestP := "", float32(-1)
	var predicted []string
	if multi {
		predicted = []string{}
	}
	for i, l := range labels {
		p := float32(cos[i] / sum)
		scores[l] = p
		if p > bestP {
			best, bestP = l, p
		}
		if multi && float64(p) >= 1/float64(len(labels)) {
			predicted = append(predicted, l)
		}
	}
	return best, bestP, scores, predicted
}

// centroids returns the job's label centroids: from this process's cache,
// else the job store, else by embedding the examples (one worker at a time;
// the others wait for its result).
func centroids(ctx context.Context, d *Deps, spec Spec) (map[string][]float32, error) {
	key := "centroids:" + spec.ID
	if c, ok := d.examples.Load(key); ok {
		return c.(map[string][]float32), nil
	}
	for {
		c, err := d.Store.Centroids(ctx, spec.ID)
		if err != nil {
			return nil, err
		}
		if c != nil {
			d.examples.Store(key, c)
			return c, nil
		}
		mine, err := d.Store.LockCentroids(ctx, spec.ID, centroidsClaim)
		if err != nil {
			return nil, err
		}
		if mine {
			c, err = embedExamples(ctx, d, spec)
			if err == nil {
				err = d.Store.SaveCentroids(ctx, spec.ID, c)
			}
			d.Store.UnlockCentroids(ctx, spec.ID)
			if err != nil {
				return nil, err
			}
			d.examples.Store(key, c)
			return c, nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// embedExamples embeds the job's examples and averages them by label.
func embedExamples(ctx context.Context, d *Deps, spec Spec) (map[string][]float32, error) {
	ex, err := d.jobExamples(ctx, spec)
	if err != nil {
		return nil, err
	}
	if len(ex) == 0 {
		return nil, d.abort(ctx, spec.ID, "the embed route needs the job's examples, and none are stored; run enqueue again with -examples")
	}
	es := classifyEmbedSpec(spec)
	sums := map[string][]float64{}
	for lo := 0; lo < len(ex); lo += MaxBatch {
		batch := ex[lo:min(lo+MaxBatch, len(ex))]
		texts := make([]string, len(batch))
		for i, e := range batch {
			texts[i] = e.Text
		}
		resp, err := embedTexts(ctx, d, es, texts)
		var apiErr *cohere.APIError
		if errors.As(err, &apiErr) && !fatal(err) && (apiErr.StatusCode == 400 || apiErr.StatusCode == 422) {
			// An example the API refuses leaves the job without a sound
			// centroid: stop with the API's reason rather than guess.
			return nil, d.abort(ctx, spec.ID, "embedding the examples: "+err.Error())
		}
		if err != nil {
			return nil, err
		}
		if len(resp.Embeddings.Float) != len(batch) {
			return nil, fmt.Errorf("embed response has %d vectors for %d examples", len(resp.Embeddings.Float), len(batch))
		}
		for i, e := range batch {
			u := unit(resp.Embeddings.Float[i])
			s := sums[e.Label]
			if s == nil {
				s = make([]float64, len(u))
				sums[e.Label] = s
			}
			for j, x := range u {
				s[j] += float64(x)
			}
		}
	}
	out := make(map[string][]float32, len(sums))
	for _, l := range slices.Sorted(maps.Keys(sums)) {
		c := make([]float32, len(sums[l]))
		for j, x := range sums[l] {
			c[j] = float32(x)
		}
		out[l] = unit(c)
	}
	return out, nil
}

// unit returns v scaled to length 1 (v itself when it is all zeros).
func unit(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return v
	}
	n = math.Sqrt(n)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) / n)
	}
	return out
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range min(len(a), len(b)) {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}
