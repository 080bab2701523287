package httpclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// errRetryableStatus marks, inside the retry loop, a response worth another attempt.
var errRetryableStatus = errors.New("retryable status")

// retryTransport makes up to MaxAttempts attempts of a call that is safe to repeat, while
// the retry budget allows. It sits outside the circuit breaker, so every attempt asks the
// breaker again, and an open breaker ends the call.
type retryTransport struct {
	next          http.RoundTripper
	maxAttempts   int
	backoff       time.Duration
	backoffMax    time.Duration
	retryAfterMax time.Duration
	budget        *retryBudget

	retries metric.Int64Counter
	refused metric.Int64Counter
	attrs   metric.MeasurementOption
	now     func() time.Time
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.budget.deposit()
	info := &attemptInfo{number: 1}
	req = req.WithContext(context.WithValue(req.Context(), attemptInfoKey{}, info))
	if t.maxAttempts <= 1 || !replayable(req) {
		return t.next.RoundTrip(req)
	}

	ctx := req.Context()
	attempt := 0
	resp, err := backoff.Retry(ctx, func() (*http.Response, error) {
		attempt++
		info.number = attempt
		areq, err := rewound(req, attempt)
		if err != nil {
			return nil, backoff.Permanent(err)
		}
		resp, err := t.next.RoundTrip(areq)
		if err != nil {
			if attempt == t.maxAttempts || callerGone(ctx) || !transient(err) || !t.allowRetry(ctx) {
				return nil, backoff.Permanent(err)
			}
			return nil, err
		}
		if !failedStatus(resp.StatusCode) || attempt == t.maxAttempts {
			return resp, nil
		}
		wait, asked := retryAfter(resp.Header.Get("Retry-After"), t.now(), t.retryAfterMax)
		if asked && !fitsDeadline(ctx, t.now().Add(wait)) {
			return resp, nil // waiting would outlast the call: answer with what we have
		}
		if !t.allowRetry(ctx) {
			return resp, nil
		}
		release(resp)
		if asked {
			return resp, &backoff.RetryAfterError{Duration: wait}
		}
		return resp, errRetryableStatus
	},
		backoff.WithBackOff(&fullJitter{base: t.backoff, max: t.backoffMax}),
		// The attempts and the caller's context bound the loop; backoff's own 15-minute
		// default limit would only hide them.
		backoff.WithMaxElapsedTime(0),
	)
	if err != nil {
		// Only the context can end the loop with an error while a response is held; its
		// body is already buffered and closed, so dropping it leaks nothing.
		return nil, err
	}
	return resp, nil
}

// allowRetry takes a token from the budget, counting the retry or its refusal.
func (t *retryTransport) allowRetry(ctx context.Context) bool {
	if !t.budget.withdraw() {
		t.refused.Add(ctx, 1, t.attrs)
		return false
	}
	t.retries.Add(ctx, 1, t.attrs)
	return true
}

// replayable reports whether req may be sent again: its method is idempotent (or it is a
// POST or PATCH with an Idempotency-Key, which asks the server to apply it once), and its
// body, if any, can be produced again.
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
	case http.MethodPost, http.MethodPatch:
		if req.Header.Get("Idempotency-Key") == "" {
			return false
		}
	default:
		return false
	}
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// rewound returns the request for the given attempt: req itself first, then a copy with a
// fresh body.
func rewound(req *http.Request, attempt int) (*http.Request, error) {
	if attempt == 1 || req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Body = body
	return r, nil
}

// transient reports whether an attempt's error may go away on its own. A refusal by the
// circuit breaker and a certificate the client rejects do not.
func transient(err error) bool {
	var certErr *tls.CertificateVerificationError
	return !errors.Is(err, ErrCircuitOpen) && !errors.As(err, &certErr)
}

// release reads a response that will be retried into memory (bounded) and closes it, so
// its connection goes back to the pool during the wait; the copy stays readable in case it
// becomes the call's answer.
func release(resp *http.Response) {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
}

// retryAfter parses a Retry-After value, delay-seconds or an HTTP-date, capped at limit.
func retryAfter(value string, now time.Time, limit time.Duration) (time.Duration, bool) {
	if value == "" {
		return 0, false
	}
	var wait time.Duration
	if secs, err := strconv.ParseUint(value, 10, 32); err == nil {
		wait = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(value); err == nil {
		wait = at.Sub(now)
	} else {
		return 0, false
	}
	return min(max(wait, 0), limit), true
}

// fitsDeadline reports whether ctx still has time at t.
func fitsDeadline(ctx context.Context, t time.Time) bool {
	deadline, ok := ctx.Deadline()
	return !ok || t.Before(deadline)
}

// fullJitter is exponential backoff with "full jitter": before retry n it waits a uniformly
// random time in [0, min(max, base*2^(n-1))]. Spreading retries over the whole range
// stops callers that failed together from retrying in lockstep. (backoff's own
// ExponentialBackOff jitters around the interval, never down to zero.)
type fullJitter struct {
	base, max time.Duration
	retry     int
}

func (b *fullJitter) NextBackOff() time.Duration {
	ceiling := b.max
	if b.retry < 62 && b.base < b.max>>b.retry {
		ceiling = b.base << b.retry
	}
	b.retry++
	return rand.N(ceiling + 1) // #nosec G404 -- jitter needs no cryptographic randomness
}

func (b *fullJitter) Reset() { b.retry = 0 }

var _ backoff.BackOff = (*fullJitter)(nil)

// attrsFor names the downstream on the retry counters.
func attrsFor(downstream string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("downstream", downstream)))
}
