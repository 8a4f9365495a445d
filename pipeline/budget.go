package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// Budget is what a job may spend. It is kept in the spec and, so that a
// resumed job can be given a new one, in the job's Redis hash, where
// workers read it before every API call.
type Budget struct {
	// PricePerMTok is the price in USD of one million billed tokens (rerank:
	// of 1,000 searches). Zero: DefaultPrice for the job's model.
	PricePerMTok float64 `json:"price_per_mtok,omitempty"`
	// MaxCost in USD stops the job, exit 3, before a call would take its
	// spending past it. Zero: no limit.
	MaxCost float64 `json:"max_cost,omitempty"`
}

// DefaultPrice is the operation's list price in USD for model (Op.Price):
// per million tokens, or per 1,000 searches for an operation billed in
// searches. Zero for an operation without one (classify's fine-tuned
// models), so that a budget needs -price-per-mtok.
func DefaultPrice(op, model string) float64 {
	o, err := LookupOp(op)
	if err != nil {
		return 0
	}
	return o.Price(model)
}

// Price is the job's unit price: -price-per-mtok or the model's default.
func (s Spec) Price() float64 {
	if s.PricePerMTok > 0 {
		return s.PricePerMTok
	}
	return DefaultPrice(s.Op, s.Model)
}

// Pricing is the budget workers enforce for the job (Store.SetBudget).
func (s Spec) Pricing() jobstore.Pricing {
	return jobstore.Pricing{Price: s.Price(), PriceOut: s.PriceOut(), MaxCost: s.MaxCost}
}

// Cost is what billed tokens and search units cost at price (per million
// tokens, or per 1,000 searches: a job is billed in one unit only).
func Cost(price float64, tokens, searchUnits int64) float64 {
	return float64(tokens)/1e6*price + float64(searchUnits)/1e3*price
}

// Billed is what a job has been billed so far, at its price.
func Billed(s Status) float64 {
	return Cost(s.Spec.Price(), s.Tokens, s.SearchUnits) + Cost(s.Spec.PriceOut(), s.OutputTokens, 0)
}

// ErrOverBudget is returned when a job's estimate exceeds its -max-cost.
var ErrOverBudget = errors.New("over budget")

// mayCall is checked before every API call: the job must still be running
// and, with a budget, what it spent plus one more call (at its average so
// far), beside its async groups' open reservations, must stay within it. A
// job that would cross its budget is aborted.
func (d *Deps) mayCall(ctx context.Context, job string) error {
	s, err := d.Store.Spending(ctx, job)
	if err != nil {
		return nil // Redis trouble is met, and retried, elsewhere
	}
	if s.State == jobstore.StateAborted || s.State == jobstore.StateCancelled {
		return errStopped
	}
	maxCost := s.MaxCost
	if maxCost <= 0 {
		return nil
	}
	spent := Cost(s.Price, s.Tokens, s.Units) + Cost(s.PriceOut, s.OutTokens, 0)
	next := 0.0
	if s.Calls > 0 {
		next = spent / float64(s.Calls)
	}
	// Running remote jobs are billed later (async_budget.go): what their
	// groups hold reserved is not the sync route's to spend.
	reserved, err := d.Store.Reserved(ctx, job)
	if err != nil {
		return nil
	}
	if spent+reserved+next <= maxCost {
		return nil
	}
	held := ""
	if reserved > 0 {
		held = fmt.Sprintf(" with %s reserved for running remote jobs", USD(reserved))
	}
	reason := fmt.Sprintf("budget: spent %s of -max-cost %s%s; the next call would exceed it (records written so far are kept; raise -max-cost and run the same command to resume)",
		USD(spent), USD(maxCost), held)
	return d.abort(ctx, job, reason)
}

// USD spells a cost in dollars, as every message and report does.
func USD(v float64) string { return fmt.Sprintf("$%.4f", v) }

// Estimate is what a job is expected to cost before it starts.
type Estimate struct {
	Records int64   `json:"records"`
	Tokens  int64   `json:"tokens"` // estimated: sampled text bytes ÷ 4
	Calls   int64   `json:"calls"`
	Price   float64 `json:"price"` // per million tokens, or per 1,000 searches for rerank
	Cost    float64 `json:"cost_usd"`
	// OutputTokens bounds a chat job's replies (-max-tokens per record),
	// priced at PriceOut.
	OutputTokens int64   `json:"output_tokens,omitempty"`
	PriceOut     float64 `json:"price_out,omitempty"`
	// SearchUnitPriced: Price is per 1,000 searches (rerank).
	SearchUnitPriced bool `json:"search_unit_priced,omitempty"`
}

// estimateSample is how many records the token estimate reads.
const estimateSample = 1000

// EstimateCost reads a job's inputs to count its records and estimates the
// tokens they will be billed from the average text length of the first
// (up to 1,000) records: about 4 bytes per token. Records the sink already
// holds are counted: the estimate is an upper bound. Stdin cannot be read
// ahead and yields an error.
func EstimateCost(ctx context.Context, spec Spec) (Estimate, error) {
	op, err := LookupOp(spec.Op)
	if err != nil {
		return Estimate{Price: spec.Price()}, err
	}
	if op.Estimate != nil {
		return op.Estimate(ctx, spec)
	}
	e, err := sampleInputs(ctx, spec, int64(op.RecordsPerCall))
	if err != nil {
		return e, err
	}
	if op.SearchUnits {
		e.SearchUnitPriced = true
		e.Cost = Cost(e.Price, 0, e.Records) // one search unit per query
	} else {
		e.Cost = Cost(e.Price, e.Tokens, 0)
	}
	return e, nil
}

// sampleInputs counts a job's records and its calls of per records, and
// reckons their tokens from the first (up to 1,000) records' text.
func sampleInputs(ctx context.Context, spec Spec, per int64) (Estimate, error) {
	e := Estimate{Price: spec.Price()}
	var sampled, bytes int64
	err := input.Split(ctx, spec.Inputs, spec.Input, spec.ChunkSize, func(r input.Range) error {
		if r.Path == "-" || r.Data != nil {
			return errors.New("stdin cannot be estimated ahead")
		}
		e.Records += int64(r.Records)
		e.Calls += (int64(r.Records) + per - 1) / per
		if sampled >= estimateSample {
			return nil
		}
		return input.Read(ctx, r, spec.Input, func(rec input.Record) error {
			if rec.Err == nil && sampled < estimateSample {
				sampled++
				bytes += int64(len(rec.Text))
			}
			return nil
		})
	})
	if err != nil {
		return e, fmt.Errorf("estimate: %w", err)
	}
	if sampled > 0 {
		e.Tokens = (bytes*e.Records/sampled + 3) / 4
	}
	return e, nil
}

// String is the estimate as enqueue prints it.
func (e Estimate) String() string {
	unit := "1M tokens"
	if e.SearchUnitPriced {
		unit = "1,000 searches"
	}
	if e.PriceOut > 0 || e.OutputTokens > 0 {
		return fmt.Sprintf("estimate: %d records, ~%d input tokens and at most %d output tokens, ~%d API calls, ~%s at %g/%g USD per 1M input/output tokens",
			e.Records, e.Tokens, e.OutputTokens, e.Calls, USD(e.Cost), e.Price, e.PriceOut)
	}
	return fmt.Sprintf("estimate: %d records, ~%d tokens, ~%d API calls, ~%s at %g USD per %s",
		e.Records, e.Tokens, e.Calls, USD(e.Cost), e.Price, unit)
}

// CheckBudget returns ErrOverBudget when the estimate exceeds the spec's
// -max-cost.
func CheckBudget(spec Spec, e Estimate) error {
	if spec.MaxCost > 0 && e.Cost > spec.MaxCost {
		return fmt.Errorf("%w: estimated %s exceeds -max-cost %s; no API call was made", ErrOverBudget, USD(e.Cost), USD(spec.MaxCost))
	}
	return nil
}
