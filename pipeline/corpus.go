package pipeline

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/passage"
	"github.com/cobatch/cobatch/sinks"
)

// CorpusOptions keep a table in step with a corpus: documents split into
// passages, the embedded text stored, rows of vanished documents deleted.
type CorpusOptions struct {
	// Split is the -split value (pipeline/passage.Parse); empty or "none":
	// one row per record.
	Split string `json:"split,omitempty"`
	// StoreText writes the embedded text (the passage, when split) in the
	// sink's text column.
	StoreText bool `json:"store_text,omitempty"`
	// Prune deletes, after a run that finished every chunk, the rows whose
	// ids this run's input no longer holds; PruneDryRun only lists them.
	Prune       bool `json:"prune,omitempty"`
	PruneDryRun bool `json:"prune_dry_run,omitempty"`
}

// splitSpec is the job's parsed -split; Validate has refused a bad one.
func (s Spec) splitSpec() passage.Spec {
	p, _ := passage.Parse(s.Split)
	return p
}

// splits reports whether the job embeds passages rather than whole records.
func (s Spec) splits() bool { return s.splitSpec().Mode != passage.SplitNone }

// corpusDefaults keeps a job that splits or stores text on the synchronous
// route, which is where passages are made and text is kept.
func corpusDefaults(s Spec) Spec {
	if (s.splits() || s.StoreText) && (s.Async == "" || s.Async == AsyncAuto) {
		s.Async = AsyncOff
	}
	if s.PruneDryRun {
		s.Prune = true
	}
	return s
}

// validateCorpus checks -split, -store-text and -prune for any operation.
func (s Spec) validateCorpus() []error {
	var errs []error
	if _, err := passage.Parse(s.Split); err != nil {
		errs = append(errs, err)
	}
	used := s.Split != "" && s.Split != "none" || s.StoreText
	if used && s.Op != OpEmbed {
		errs = append(errs, fmt.Errorf("-split and -store-text: only embed jobs take them, not %s", s.Op))
	}
	if used && s.Async != AsyncOff && s.Async != "" && s.Async != AsyncAuto {
		errs = append(errs, fmt.Errorf("-async %s: -split and -store-text run on the sync route (-async off)", s.Async))
	}
	if s.Prune {
		if s.Op != OpEmbed {
			errs = append(errs, fmt.Errorf("-prune: only embed jobs prune, not %s", s.Op))
		}
		if slices.Contains(s.Inputs, "-") {
			errs = append(errs, errors.New("-prune: refused for stdin input, which cannot show that it is the whole corpus"))
		}
	}
	return errs
}

// corpus says which passage columns the job's rows carry.
func (s Spec) corpus() sinks.Corpus {
	return sinks.Corpus{Text: s.StoreText, Passages: s.splits()}
}

// splitItems replaces each document by its passages, named DOC#NNNN. A
// passage's hash covers its document's too, so that a changed document
// matches none of its stored passages and is embedded again whole, and an
// unchanged one matches all of them.
func splitItems(spec passage.Spec, docs []item) []item {
	var out []item
	for _, d := range docs {
		for _, p := range spec.Split(d.rec.Text) {
			rec := d.rec
			rec.ID, rec.Text = passage.ID(d.rec.ID, p.Index), p.Text
			h := sha256.New()
			h.Write(d.sha[:])
			h.Write([]byte(p.Text))
			it := item{rec: rec, pass: sinks.Passage{DocID: d.rec.ID, ChunkIndex: p.Index, CharStart: p.CharStart, CharEnd: p.CharEnd}}
			copy(it.sha[:], h.Sum(nil))
			out = append(out, it)
		}
	}
	return out
}

// docCounts counts a split chunk in documents, as the job's records are
// counted: a document with a failed passage failed, one with a new passage
// was written, and one all of whose passages were kept was skipped.
func docCounts(c *sinks.Chunk) jobstore.ChunkResult {
	doc := func(id string) string {
		if d, _, ok := passage.ParseID(id); ok {
			return d
		}
		return id
	}
	failed, written, skipped := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var r jobstore.ChunkResult
	for _, f := range c.Failed {
		if f.ID == "" {
			r.Failed++ // an unreadable record has no id to share
			continue
		}
		failed[doc(f.ID)] = true
	}
	for _, row := range c.Rows {
		if !failed[row.DocID] {
			written[row.DocID] = true
		}
	}
	for _, id := range c.Kept {
		if d := doc(id); !failed[d] && !written[d] {
			skipped[d] = true
		}
	}
	r.Failed += int64(len(failed))
	r.Written, r.Skipped = int64(len(written)), int64(len(skipped))
	return r
}

// modelLimit returns the job's model's context, read once per worker and
// model; ok is false when the embedder cannot say. A model the API does not
// describe is not an error here: the embed call itself reports it, through
// the outcome policy (outcome.go), as it does for any job.
func (d *Deps) modelLimit(ctx context.Context, model string) (passage.Limit, bool, error) {
	if v, ok := d.limits.Load(model); ok {
		return v.(passage.Limit), true, nil
	}
	g, ok := d.Embedder.(ModelGetter)
	if !ok {
		return passage.Limit{}, false, nil
	}
	m, err := g.GetModel(ctx, model)
	if err != nil {
		if ctx.Err() != nil {
			return passage.Limit{}, false, ctx.Err()
		}
		return passage.Limit{}, false, nil
	}
	l, err := passage.LimitOf(*m)
	if err != nil {
		return passage.Limit{}, false, nil
	}
	d.limits.Store(model, l)
	return l, true, nil
}

// countTruncated adds to the job's truncated count the texts about to be
// embedded whole that pass the model's context: the API embeds them cut
// short, which the job reports rather than hides.
func (d *Deps) countTruncated(ctx context.Context, spec Spec, items []item) error {
	if spec.splitSpec().Mode == passage.SplitTokens || len(items) == 0 {
		return nil
	}
	// No Cohere embed model reads less than 512 tokens: texts within that
	// bound need no look at the model (and cost no call to describe it).
	short := passage.Limit{Context: 512}
	if !slices.ContainsFunc(items, func(it item) bool { return short.Truncates(it.rec.Text) }) {
		return nil
	}
	l, ok, err := d.modelLimit(ctx, spec.Model)
	if err != nil || !ok {
		return err
	}
	var n int64
	for _, it := range items {
		if l.Truncates(it.rec.Text) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	d.Metrics.truncated(spec.ID, n)
	return d.Store.AddStats(ctx, spec.ID, map[string]int64{jobstore.StatTruncated: n})
}

// prune deletes, at the end of a job whose chunks all finished, the sink's
// rows of documents the job's input no longer holds (-prune), and records
// how many in the job's stats and their ids in the summary; with
// -prune-dry-run it deletes none and logs their ids instead. The input is
// read again for its ids alone: no text is kept and no call is made.
func (w *Worker) prune(ctx context.Context, spec Spec, sink Sink, sum *sinks.Summary) error {
	if !spec.Prune {
		return nil
	}
	p, ok := sink.(sinks.Pruner)
	if !ok {
		return fmt.Errorf("-prune: the %s sink cannot prune", spec.Sink)
	}
	keep := map[string]bool{}
	err := input.Split(ctx, spec.Inputs, spec.Input, 1<<30, func(r input.Range) error {
		return input.Read(ctx, r, spec.Input, func(rec input.Record) error {
			if rec.ID != "" {
				keep[rec.ID] = true
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("-prune: read the input's ids: %w", err)
	}
	ids, err := p.Prune(ctx, spec.ID, sum.Fingerprint, keep, spec.PruneDryRun)
	if err != nil {
		return fmt.Errorf("-prune: %w", err)
	}
	if spec.PruneDryRun {
		// Nothing was deleted, so the sink's summary (a Parquet manifest's
		// pruned ids) must not say otherwise: the list goes to the log.
		w.log().Info("-prune-dry-run: rows that -prune would delete", "job", spec.ID, "rows", len(ids), "ids", ids)
	} else {
		sum.Pruned = ids
	}
	return w.Store.SetStat(ctx, spec.ID, jobstore.StatPruned, int64(len(ids)))
}
