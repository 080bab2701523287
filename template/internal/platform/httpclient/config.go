package httpclient

import "time"

// Config tunes one client. A zero field takes its value from [DefaultConfig], as net/http's
// zero values do, so Config{} is a working client; to switch retries off set MaxAttempts
// to 1.
type Config struct {
	// Timeout bounds the whole call: every attempt, the waits between them and reading the
	// response body. The caller's own context deadline applies as well; the earlier wins.
	Timeout time.Duration
	// AttemptTimeout bounds one attempt, from sending the request to closing the body. An
	// attempt that runs out counts as a downstream failure and may be retried.
	AttemptTimeout time.Duration

	// MaxAttempts is the most attempts a call makes, the first one included.
	MaxAttempts int
	// RetryBackoff and RetryBackoffMax shape the wait before retry n (n = 1, 2, ...): a
	// uniformly random duration in [0, min(RetryBackoffMax, RetryBackoff * 2^(n-1))]
	// ("full jitter"), so callers that failed together do not retry together.
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	// RetryAfterMax caps the wait a Retry-After header asks for. A wait that would end
	// after the call's deadline is not started: the call returns the response instead.
	RetryAfterMax time.Duration
	// The retry budget: every call adds RetryBudgetRatio of a token, every retry takes a
	// whole one, and the bucket holds at most RetryBudgetBurst. Over any stretch of time,
	// retries stay below RetryBudgetBurst + RetryBudgetRatio x calls, so an outage cannot
	// multiply the load on the downstream by MaxAttempts.
	RetryBudgetRatio float64
	RetryBudgetBurst int

	// The circuit breaker, one per downstream host. It opens when, within the last
	// BreakerWindow, at least BreakerMinRequests attempts were made and at least
	// BreakerFailureRatio of them failed (a connection error, an attempt timeout, a 5xx or
	// a 429). While open, calls fail at once with ErrCircuitOpen. After BreakerOpenTimeout
	// it lets BreakerHalfOpenProbes attempts through; if all succeed it closes, and any
	// failure opens it again.
	BreakerWindow         time.Duration
	BreakerMinRequests    int
	BreakerFailureRatio   float64
	BreakerOpenTimeout    time.Duration
	BreakerHalfOpenProbes int

	// The connection pool (see http.Transport). MaxConnsPerHost 0 means no limit.
	MaxIdleConns          int
	MaxIdleConnsPerHost   int
	MaxConnsPerHost       int
	IdleConnTimeout       time.Duration
	TLSHandshakeTimeout   time.Duration
	ResponseHeaderTimeout time.Duration
	ExpectContinueTimeout time.Duration
}

// DefaultConfig suits a call to an internal JSON API on the same network: answers in tens
// of milliseconds, occasionally restarted by a rollout.
func DefaultConfig() Config {
	return Config{
		// A healthy answer takes milliseconds: 1s per attempt leaves room for a slow one,
		// and 3s for the call leaves room for a retry or two while staying well inside the
		// 10s an incoming request of this service gets (HTTP_WRITE_TIMEOUT).
		Timeout:        3 * time.Second,
		AttemptTimeout: time.Second,

		MaxAttempts:     3,
		RetryBackoff:    50 * time.Millisecond,
		RetryBackoffMax: time.Second,
		RetryAfterMax:   2 * time.Second,
		// Finagle's defaults: retries add at most a fifth to the load, with a small reserve
		// so that a quiet service can still retry.
		RetryBudgetRatio: 0.2,
		RetryBudgetBurst: 10,

		BreakerWindow: 10 * time.Second,
		// Below 20 attempts a ratio says little: two failures of three are not an outage.
		BreakerMinRequests:    20,
		BreakerFailureRatio:   0.5,
		BreakerOpenTimeout:    5 * time.Second,
		BreakerHalfOpenProbes: 3,

		MaxIdleConns: 100,
		// net/http keeps only 2 idle connections per host: under concurrency every other
		// request would dial a new connection and leave it in TIME_WAIT.
		MaxIdleConnsPerHost: 32,
		// Longer than a load balancer would keep an idle connection is pointless; shorter
		// than the server's idle timeout (120s in this template) avoids reusing a connection
		// the server is closing.
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// withDefaults fills the zero fields of c from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	orDefault(&c.Timeout, d.Timeout)
	orDefault(&c.AttemptTimeout, d.AttemptTimeout)
	orDefault(&c.MaxAttempts, d.MaxAttempts)
	orDefault(&c.RetryBackoff, d.RetryBackoff)
	orDefault(&c.RetryBackoffMax, d.RetryBackoffMax)
	orDefault(&c.RetryAfterMax, d.RetryAfterMax)
	orDefault(&c.RetryBudgetRatio, d.RetryBudgetRatio)
	orDefault(&c.RetryBudgetBurst, d.RetryBudgetBurst)
	orDefault(&c.BreakerWindow, d.BreakerWindow)
	orDefault(&c.BreakerMinRequests, d.BreakerMinRequests)
	orDefault(&c.BreakerFailureRatio, d.BreakerFailureRatio)
	orDefault(&c.BreakerOpenTimeout, d.BreakerOpenTimeout)
	orDefault(&c.BreakerHalfOpenProbes, d.BreakerHalfOpenProbes)
	orDefault(&c.MaxIdleConns, d.MaxIdleConns)
	orDefault(&c.MaxIdleConnsPerHost, d.MaxIdleConnsPerHost)
	orDefault(&c.IdleConnTimeout, d.IdleConnTimeout)
	orDefault(&c.TLSHandshakeTimeout, d.TLSHandshakeTimeout)
	orDefault(&c.ResponseHeaderTimeout, d.ResponseHeaderTimeout)
	orDefault(&c.ExpectContinueTimeout, d.ExpectContinueTimeout)
	return c
}

func orDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}
