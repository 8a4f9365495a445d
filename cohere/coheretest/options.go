package coheretest

import (
	"net/http"
	"time"
)

// DefaultAPIKey is the bearer token the fake accepts unless WithAPIKey is given.
const DefaultAPIKey = "test-key"

// Defaults of the asynchronous endpoints: short so that tests exercise polling
// without waiting long.
const (
	DefaultValidateDelay = 20 * time.Millisecond
	DefaultProcessDelay  = 50 * time.Millisecond
	DefaultPartRows      = 1000
)

// FaultFunc inspects a request (its body already read) and, when ok, makes
// the fake answer with status and respBody instead of serving the call.
type FaultFunc func(r *http.Request, body []byte) (status int, respBody string, ok bool)

// Option configures a Server at construction (NewServer, New) or at run time
// (Server.Set).
type Option func(*config)

type rateLimit struct {
	n      int
	window time.Duration
}

// config is guarded by Server.mu once the server exists.
type config struct {
	apiKey        string
	limits        map[string]rateLimit
	retryAfter    bool
	latency       time.Duration
	jitter        time.Duration
	errStatus     int
	errRate       float64
	resetRate     float64
	hangRate      float64
	hangFunc      func(*http.Request) bool
	poison        map[string]bool
	monthlyCap    int
	faults        []FaultFunc
	malformedRate float64
	validateDelay time.Duration
	processDelay  time.Duration
	partRows      int
	dupRate       float64 // <0: repeat exactly the first output row of each batch
	seed          uint64
	classifiers   map[string][]ClassifyExample
	badReply      func(lastUser string, earlier int) bool
	badReplyRate  float64
	// Lost answers and lines: see lost_creates.go.
	lostStatus     int
	loseCreate     func(route string, earlier int) bool
	lostCreateRate float64
	lostLineRate   float64
}

func defaultConfig() config {
	return config{
		apiKey:        DefaultAPIKey,
		limits:        map[string]rateLimit{},
		poison:        map[string]bool{},
		validateDelay: DefaultValidateDelay,
		processDelay:  DefaultProcessDelay,
		partRows:      DefaultPartRows,
		dupRate:       -1,
		seed:          1,
		classifiers:   map[string][]ClassifyExample{},
	}
}

// ClassifyExample is one labelled text for WithClassifier.
type ClassifyExample struct {
	Text  string `json:"text"`
	Label string `json:"label"`
}

// WithAPIKey sets the one bearer token the fake accepts (default DefaultAPIKey).
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithRateLimit allows n units per sliding window on an endpoint group, in the
// API's own unit: "embed" (v1 and v2) counts inputs (texts), every other group
// counts requests. Groups: embed, chat, rerank, classify, tokenize,
// detokenize, models, check-api-key, datasets, embed-jobs, batches, and "*"
// for every
// group without its own limit. n <= 0 removes the limit. A request that would
// exceed the limit gets a 429 and is not counted.
func WithRateLimit(endpoint string, n int, window time.Duration) Option {
	return func(c *config) {
		if n <= 0 || window <= 0 {
			delete(c.limits, endpoint)
			return
		}
		c.limits[endpoint] = rateLimit{n: n, window: window}
	}
}

// WithRetryAfter makes 429s carry a Retry-After header (whole seconds until the
// window admits the request). Off by default, as on the real API.
func WithRetryAfter(on bool) Option { return func(c *config) { c.retryAfter = on } }

// WithLatency delays every API response by d plus a uniform random extra in
// [0, jitter).
func WithLatency(d, jitter time.Duration) Option {
	return func(c *config) { c.latency, c.jitter = d, jitter }
}

// WithErrorRate answers the given fraction of API calls with status (e.g. 500,
// 503, 504) and an {"id","message"} body. fraction 0 turns it off.
func WithErrorRate(status int, fraction float64) Option {
	return func(c *config) { c.errStatus, c.errRate = status, fraction }
}

// WithResets makes the given fraction of API calls end with the connection
// reset (hijacked and closed with SO_LINGER 0) and no response.
func WithResets(fraction float64) Option { return func(c *config) { c.resetRate = fraction } }

// WithHang makes the given fraction of API calls never answer: they wait until
// the client gives up (the request context ends) or the server closes.
func WithHang(fraction float64) Option { return func(c *config) { c.hangRate = fraction } }

// WithHangFunc hangs exactly the requests for which f returns true.
func WithHangFunc(f func(*http.Request) bool) Option { return func(c *config) { c.hangFunc = f } }

// WithPoison makes any embed, classify or rerank request containing one of
// texts fail with 400 "invalid request: ...", an embed job over such a text
// fail, and a batch record with one count as failed. A chat request fails
// when a message contains one of texts anywhere. Adds to earlier poison.
func WithPoison(texts ...string) Option {
	return func(c *config) {
		for _, t := range texts {
			c.poison[t] = true
		}
	}
}

// WithoutPoison clears every poison text.
func WithoutPoison() Option { return func(c *config) { c.poison = map[string]bool{} } }

// WithMonthlyCap answers every authenticated API call after the first n with a
// 429 carrying the trial key's monthly-limit message (see MonthlyCapMessage).
// n <= 0 removes the cap.
func WithMonthlyCap(n int) Option { return func(c *config) { c.monthlyCap = n } }

// WithFault adds a hook consulted on every API call after authentication; the
// first hook that returns ok decides the response.
func WithFault(f FaultFunc) Option { return func(c *config) { c.faults = append(c.faults, f) } }

// WithMalformed answers the given fraction of API calls with 200 and a
// truncated, invalid JSON body.
func WithMalformed(fraction float64) Option { return func(c *config) { c.malformedRate = fraction } }

// WithAsyncDelays sets how long a dataset stays "processing" before it is
// validated or failed (validate), and how long embed jobs and batches run
// before completing (process). Defaults: DefaultValidateDelay,
// DefaultProcessDelay.
func WithAsyncDelays(validate, process time.Duration) Option {
	return func(c *config) { c.validateDelay, c.processDelay = validate, process }
}

// WithPartRows sets how many rows each Avro dataset part holds (default
// DefaultPartRows), so tests can produce multi-part outputs.
func WithPartRows(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.partRows = n
		}
	}
}

// WithBatchDuplicates sets the fraction of a batch's output rows that are
// written twice, as Cohere's batch outputs have been seen to do. By default
// exactly the first row of every batch output is repeated; 0 turns
// repetition off.
func WithBatchDuplicates(fraction float64) Option { return func(c *config) { c.dupRate = fraction } }

// WithSeed seeds the random source behind the fractional faults (default 1),
// so a run's fault pattern repeats.
func WithSeed(seed uint64) Option { return func(c *config) { c.seed = seed } }

// WithClassifier registers a fine-tuned classify model with its training
// examples. A classify request for a model that is neither registered nor
// given examples is classified with a built-in spam / not-spam example set.
func WithClassifier(model string, examples []ClassifyExample) Option {
	return func(c *config) { c.classifiers[model] = examples }
}

// WithoutFaults clears every fault: rate limits, latency, error rate, resets,
// hangs, poison, monthly cap, hooks, malformed bodies, bad chat replies,
// lost create answers and lost batch lines.
func WithoutFaults() Option {
	return func(c *config) {
		c.limits = map[string]rateLimit{}
		c.latency, c.jitter = 0, 0
		c.errStatus, c.errRate = 0, 0
		c.resetRate, c.hangRate, c.hangFunc = 0, 0, nil
		c.poison = map[string]bool{}
		c.monthlyCap = 0
		c.faults = nil
		c.malformedRate = 0
		c.badReply, c.badReplyRate = nil, 0
		c.loseCreate, c.lostCreateRate, c.lostLineRate = nil, 0, 0
	}
}
