package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// Async routes: the synchronous embed endpoint, or Cohere's asynchronous
// Embed Jobs (v3 models) and Batches (batch models).
const (
	AsyncAuto      = "auto"
	AsyncEmbedJobs = "embed-jobs"
	AsyncBatches   = "batches"
	AsyncOff       = "off"

	FallbackSync       = "sync"
	FallbackDeadLetter = "dead-letter"

	DefaultAsyncThreshold = 100_000
)

// AsyncOptions choose and shape the asynchronous route. They are part of
// Spec; they change what a job costs and how long it takes, not its output,
// so they are left out of the default job id.
type AsyncOptions struct {
	// Async is auto (default: the async route the model supports when the
	// job has more than AsyncThreshold records), embed-jobs, batches or off.
	// Stdin input always goes the synchronous way.
	Async string `json:"async,omitempty"`
	// AsyncThreshold is the record count above which auto goes async
	// (default DefaultAsyncThreshold).
	AsyncThreshold int `json:"async_threshold,omitempty"`
	// BatchModel is the model a batch runs (default: embed-v4.0 maps to
	// batch-embed-v4).
	BatchModel string `json:"batch_model,omitempty"`
	// AsyncFallback says what happens to records the remote job did not
	// return: sync (default) re-embeds them through the synchronous route,
	// dead-letter fails them with the reason.
	AsyncFallback string `json:"async_fallback,omitempty"`
	// KeepDatasets keeps the datasets a job uploaded and the outputs it read
	// (default: deleted once read).
	KeepDatasets bool `json:"keep_datasets,omitempty"`
}

func (o AsyncOptions) withDefaults() AsyncOptions {
	if o.Async == "" {
		o.Async = AsyncAuto
	}
	if o.AsyncThreshold <= 0 {
		o.AsyncThreshold = DefaultAsyncThreshold
	}
	if o.AsyncFallback == "" {
		o.AsyncFallback = FallbackSync
	}
	return o
}

// embedJobModels are the models the Embed Jobs API documents.
var embedJobModels = []string{"embed-english-v3.0", "embed-multilingual-v3.0", "embed-english-light-v3.0", "embed-multilingual-light-v3.0"}

func isEmbedJobModel(m string) bool {
	for _, x := range embedJobModels {
		if m == x {
			return true
		}
	}
	return false
}

// BatchModelName is the model a batch of this job runs: -batch-model, or
// the operation's choice ("" when there is none).
func (s Spec) BatchModelName() string {
	if s.BatchModel != "" {
		return s.BatchModel
	}
	if a := s.asyncOp(); a != nil {
		return a.batchModel(s)
	}
	return ""
}

// asyncOp is the job's operation's part in the async route; nil for an
// operation without one.
func (s Spec) asyncOp() asyncOp {
	op, err := LookupOp(s.Op)
	if err != nil {
		return nil
	}
	return op.Async
}

func (s Spec) validateAsync() []error {
	var errs []error
	switch s.Async {
	case AsyncAuto, AsyncOff:
	case AsyncEmbedJobs:
		if !isEmbedJobModel(s.Model) {
			errs = append(errs, fmt.Errorf("-async embed-jobs: model %q is not served by embed jobs; use one of %s", s.Model, strings.Join(embedJobModels, ", ")))
		}
		if s.Dimensions != 0 {
			errs = append(errs, errors.New("-async embed-jobs: -dimensions is not supported by embed jobs"))
		}
	case AsyncBatches:
		if s.BatchModelName() == "" {
			errs = append(errs, fmt.Errorf("-async batches: no batch model for %q; name one with -batch-model", s.Model))
		}
	default:
		errs = append(errs, fmt.Errorf("-async %q: want auto, embed-jobs, batches or off", s.Async))
	}
	switch s.AsyncFallback {
	case FallbackSync, FallbackDeadLetter:
	default:
		errs = append(errs, fmt.Errorf("-async-fallback %q: want sync or dead-letter", s.AsyncFallback))
	}
	if s.AsyncThreshold < 0 {
		errs = append(errs, fmt.Errorf("-async-threshold %d: want at least 0", s.AsyncThreshold))
	}
	return errs
}

// asyncRoute returns the async route a job of this many records takes, or ""
// for the synchronous one.
func (s Spec) asyncRoute(records int64) string {
	for _, in := range s.Inputs {
		if in == "-" {
			return "" // stdin cannot be read twice
		}
	}
	switch s.Async {
	case AsyncEmbedJobs, AsyncBatches:
		return s.Async
	case AsyncAuto:
		if a := s.asyncOp(); a != nil && records > int64(s.AsyncThreshold) {
			return a.autoRoute(s)
		}
	}
	return ""
}

// AsyncAPI is the part of the Cohere API the async route uses
// (cohere.Client satisfies it). A worker sends each of its requests through
// paced (async_pace.go), on its endpoint's limiter; the output parts are
// read unpaced, and CancelRemote (enqueue -cancel) calls it directly.
type AsyncAPI interface {
	CreateDataset(ctx context.Context, p cohere.DatasetCreateParams, data io.Reader, filename string) (string, error)
	GetDataset(ctx context.Context, id string) (*cohere.Dataset, error)
	DeleteDataset(ctx context.Context, id string) error
	CreateEmbedJob(ctx context.Context, req *cohere.CreateEmbedJobRequest) (*cohere.CreateEmbedJobResponse, error)
	GetEmbedJob(ctx context.Context, id string) (*cohere.EmbedJob, error)
	CancelEmbedJob(ctx context.Context, id string) error
	CreateBatch(ctx context.Context, req *cohere.CreateBatchRequest) (*cohere.Batch, error)
	GetBatch(ctx context.Context, id string) (*cohere.Batch, error)
	CancelBatch(ctx context.Context, id string) error
	ReadEmbedJobOutput(ctx context.Context, rawURL string, fn func(cohere.EmbedJobRow) error) error
	ReadBatchOutput(ctx context.Context, rawURL string, fn func(cohere.BatchOutputRow) error) error
	ReadBatchChatOutput(ctx context.Context, rawURL string, fn func(cohere.BatchChatResult) error) error
	// Find* look a remote object up by name (cohere/create.go): a create
	// is never sent again blindly.
	FindDataset(ctx context.Context, name, typ string) (*cohere.Dataset, error)
	FindEmbedJob(ctx context.Context, name string) (*cohere.EmbedJob, error)
	FindBatch(ctx context.Context, name string) (*cohere.Batch, error)
}

var _ AsyncAPI = (*cohere.Client)(nil)

// AsyncConfig paces the async route's polling.
type AsyncConfig struct {
	// PollMin is the first wait between two status checks (default 2s); it
	// doubles up to PollMax (default 60s).
	PollMin, PollMax time.Duration
	// Deadline bounds each remote phase (validation, processing); past it
	// the remote job is cancelled and the job aborted (default 24h).
	Deadline time.Duration
}

func (c AsyncConfig) withDefaults() AsyncConfig {
	if c.PollMin <= 0 {
		c.PollMin = 2 * time.Second
	}
	if c.PollMax <= 0 {
		c.PollMax = time.Minute
	}
	if c.Deadline <= 0 {
		c.Deadline = 24 * time.Hour
	}
	return c
}

func (w *Worker) asyncConfig() AsyncConfig { return w.AsyncPoll.withDefaults() }

// remoteName names a group's datasets and remote job after the job and the
// group, so that they can be found again (and by a person).
func remoteName(job string, group int) string { return fmt.Sprintf("cobatch-%s-g%d", job, group) }

// asyncGroup loads an async task's group. ok is false when the task has
// nothing to do: the job stopped, or err says why not.
func (w *Worker) asyncGroup(ctx context.Context, p AsyncPayload) (st jobstore.GroupState, ok bool, err error) {
	if w.stopped(ctx, p.Job) {
		return st, false, nil
	}
	if w.Async == nil {
		return st, false, w.noAsync(ctx, p.Job)
	}
	st, err = w.Store.GroupState(ctx, p.Job, p.Group)
	return st, err == nil, err
}

// noAsync aborts a job that reached a worker without an async API client.
func (w *Worker) noAsync(ctx context.Context, job string) error {
	reason := "this worker has no client for the async route (embed jobs, batches)"
	if err := w.Store.Abort(ctx, job, reason); err != nil {
		return err
	}
	return fmt.Errorf("%s: %w", reason, ErrNoRetry)
}
