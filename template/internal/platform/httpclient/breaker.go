package httpclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ErrCircuitOpen is wrapped by the error of a call that the circuit breaker refused
// without sending anything: the downstream host failed too often of late. Such a call is
// not retried; callers fall back at once.
var ErrCircuitOpen = errors.New("circuit breaker open")

// Outcomes of an attempt as the breaker counts them. gobreaker counts a nil error as a
// success and any other as a failure, unless it is excluded.
var (
	errDownstreamFailed = errors.New("downstream failed")
	errCallerGone       = errors.New("caller gave up")
)

// breakerTransport sends each attempt through the circuit breaker of its host.
type breakerTransport struct {
	next     http.RoundTripper
	breakers *breakers
}

func (t *breakerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	cb := t.breakers.get(host)
	if info, ok := req.Context().Value(attemptInfoKey{}).(*attemptInfo); ok {
		info.breaker = cb.State().String()
	}
	done, err := cb.Allow()
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body even when it sends nothing
		}
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			return nil, fmt.Errorf("%w for %s: half-open, its probes are still out", ErrCircuitOpen, host)
		}
		return nil, fmt.Errorf("%w for %s", ErrCircuitOpen, host)
	}
	resp, err := t.next.RoundTrip(req)
	done(outcome(req.Context(), resp, err))
	return resp, err
}

// outcome classifies an attempt. An attempt cut short by the caller (its cancellation or
// its own deadline) says nothing about the downstream and is not counted at all.
func outcome(callerCtx context.Context, resp *http.Response, err error) error {
	switch {
	case callerGone(callerCtx):
		return errCallerGone
	case err != nil || failedStatus(resp.StatusCode):
		return errDownstreamFailed
	default:
		return nil
	}
}

// callerGone reports whether the caller cancelled ctx or its deadline has passed. The
// deadline is checked as well as ctx.Err: http.Client enforces its Timeout with a timer of
// its own, which can abort the attempt a moment before the context's deadline fires.
func callerGone(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

// failedStatus reports whether a status says the downstream is failing or overloaded, so
// that the attempt counts against the breaker and may be retried. Other 4xx answers, and
// 501 Not Implemented, come from a healthy downstream refusing the request itself.
func failedStatus(code int) bool {
	return code >= 500 && code != http.StatusNotImplemented || code == http.StatusTooManyRequests
}

// breakers holds one circuit breaker per downstream host, made on first use.
type breakers struct {
	settings    gobreaker.Settings // Name and OnStateChange are set per host
	logger      *slog.Logger
	transitions metric.Int64Counter
	downstream  string

	mu     sync.RWMutex
	byHost map[string]*gobreaker.TwoStepCircuitBreaker[struct{}]
}

func newBreakers(downstream string, cfg Config, logger *slog.Logger, meter metric.Meter) *breakers {
	minRequests := uint32(cfg.BreakerMinRequests) // #nosec G115 -- validated positive by config
	b := &breakers{
		settings: gobreaker.Settings{
			MaxRequests: uint32(cfg.BreakerHalfOpenProbes), // #nosec G115 -- as above
			Interval:    cfg.BreakerWindow,
			// A rolling window of ten buckets: old failures fade out a tenth at a time
			// instead of all at once when a fixed window ends.
			BucketPeriod: cfg.BreakerWindow / 10,
			Timeout:      cfg.BreakerOpenTimeout,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				return c.Requests >= minRequests &&
					float64(c.TotalFailures) >= cfg.BreakerFailureRatio*float64(c.Requests)
			},
			IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) },
		},
		logger: logger,
		transitions: counter(meter, "httpclient.breaker.transitions", "{transition}",
			"Circuit breaker state changes, by downstream, host and new state."),
		downstream: downstream,
		byHost:     make(map[string]*gobreaker.TwoStepCircuitBreaker[struct{}]),
	}
	b.observeStates(meter)
	return b
}

// observeStates reports every breaker's state when metrics are collected, as
// gobreaker numbers them: 0 closed, 1 half-open, 2 open. A dashboard shows the state from
// this gauge; the transitions counter says how often it changed in between.
func (b *breakers) observeStates(meter metric.Meter) {
	state, err := meter.Int64ObservableGauge("httpclient.breaker.state",
		metric.WithUnit("{state}"),
		metric.WithDescription("Circuit breaker state, by downstream and host: 0 closed, 1 half-open, 2 open."))
	if err == nil {
		_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			b.mu.RLock()
			defer b.mu.RUnlock()
			for host, cb := range b.byHost {
				o.ObserveInt64(state, int64(cb.State()), metric.WithAttributes(
					attribute.String("downstream", b.downstream),
					attribute.String("server.address", host),
				))
			}
			return nil
		}, state)
	}
	if err != nil {
		otel.Handle(err) // constant names: a defect of this package; the client still works
	}
}

func (b *breakers) get(host string) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	b.mu.RLock()
	cb, ok := b.byHost[host]
	b.mu.RUnlock()
	if ok {
		return cb
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if cb, ok := b.byHost[host]; ok {
		return cb
	}
	st := b.settings
	st.Name = host
	st.OnStateChange = b.changed
	cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
	b.byHost[host] = cb
	return cb
}

// changed logs a state change once, as it happens, and counts it. gobreaker calls it
// with the breaker locked, so it stays short.
func (b *breakers) changed(host string, from, to gobreaker.State) {
	level := slog.LevelInfo
	if to == gobreaker.StateOpen {
		level = slog.LevelWarn
	}
	b.logger.Log(context.Background(), level, "circuit breaker "+to.String(),
		"downstream", b.downstream, "host", host, "from", from.String())
	b.transitions.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("downstream", b.downstream),
		attribute.String("server.address", host),
		attribute.String("state", to.String()),
	))
}
