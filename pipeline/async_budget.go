package pipeline

import (
	"context"
	"fmt"

	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// A remote job is billed as a whole when it completes, so the budget cannot
// be checked call by call as on the sync route (mayCall). Instead each group
// reserves a bound on what its remote job will cost before the job is
// created: the dataset's bytes ÷ 4 as input tokens, and for chat the reply
// bound per record (Spec.replyBound) as output tokens. A group whose bound
// does not fit beside what was spent and what other running groups reserved
// waits for them to be billed; when nothing else is running and it still
// does not fit, the job stops before creating it.

// groupBound is the most a group's remote job is expected to cost.
func groupBound(spec Spec, s jobstore.Spent, st jobstore.GroupState) float64 {
	return Cost(s.Price, (st.SentBytes+3)/4, 0) + Cost(s.PriceOut, st.Sent*spec.replyBound(), 0)
}

// mayCreate is checked before a group's remote job is created: ok when its
// bound fits the budget (or the job has none). Not ok with a nil error:
// poll again later. A group that can never fit aborts the job.
func (w *Worker) mayCreate(ctx context.Context, spec Spec, st jobstore.GroupState) (bool, error) {
	s, err := w.Store.Spending(ctx, spec.ID)
	if err != nil {
		return false, err
	}
	if s.State == jobstore.StateAborted || s.State == jobstore.StateCancelled {
		return false, errStopped
	}
	if s.MaxCost <= 0 {
		return true, nil
	}
	if st.SentBytes == 0 && st.DatasetID != "" {
		// Its size is recorded before the group moves on (sentAndOn in
		// async_upload.go): without it the bound would be $0 and reserve
		// nothing. Retried rather than created unchecked.
		return false, fmt.Errorf("budget of group %d: dataset %s has no recorded size", st.Group, st.DatasetID)
	}
	bound := groupBound(spec, s, st)
	r, err := w.Store.ReserveGroup(ctx, spec.ID, st.Group, bound, s.Pricing)
	if err != nil {
		return false, err
	}
	switch r {
	case 1:
		return true, nil
	case 0:
		return false, nil
	}
	if s, err = w.Store.Spending(ctx, spec.ID); err != nil {
		return false, err
	}
	spentUSD := Cost(s.Price, s.Tokens, s.Units) + Cost(s.PriceOut, s.OutTokens, 0)
	reason := fmt.Sprintf("budget: spent %s of -max-cost %s; the %s of group %d (%d records, up to ~%s) would exceed it (records written so far are kept; raise -max-cost and run the same command to resume)",
		USD(spentUSD), USD(s.MaxCost), RemoteKind(st.Route), st.Group, st.Sent, USD(bound))
	return false, w.abort(ctx, spec.ID, reason)
}
