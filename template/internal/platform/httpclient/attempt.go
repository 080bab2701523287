package httpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ErrAttemptTimeout is wrapped by the error of an attempt that ran out of AttemptTimeout
// while the caller still had time.
var ErrAttemptTimeout = errors.New("attempt timed out")

// maxDrain is how much of an unread response body Close reads to keep the connection
// reusable. Beyond it, closing the connection is cheaper than reading on.
const maxDrain = 64 << 10

// attemptTransport gives each attempt its own deadline, which lasts until the response body
// is closed, so a downstream that stalls half-way through a body is cut off too.
type attemptTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		if ctx.Err() != nil && !callerGone(req.Context()) {
			return nil, fmt.Errorf("%w after %s: %w", ErrAttemptTimeout, t.timeout, err)
		}
		return nil, err
	}
	resp.Body = &drainingBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// drainingBody reads what the caller left unread (up to maxDrain) before closing, so that
// the connection goes back to the pool instead of being torn down, and then ends the
// attempt's context.
type drainingBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *drainingBody) Close() error {
	_, _ = io.CopyN(io.Discard, b.ReadCloser, maxDrain)
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// attemptInfo travels down a call's context from the retry and breaker layers to the
// client span of each attempt, which they sit above. The attempts of a call run one after
// another, so the layers update it in turn.
type attemptInfo struct {
	number  int    // 1 for the first attempt
	breaker string // the breaker's state when it let the attempt through
}

type attemptInfoKey struct{}

// annotateTransport sits below otelhttp's transport and adds to the attempt's client
// span what only the layers above know: which attempt this is, and the breaker's state.
type annotateTransport struct {
	next http.RoundTripper
}

func (t *annotateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if span := trace.SpanFromContext(req.Context()); span.IsRecording() {
		if info, ok := req.Context().Value(attemptInfoKey{}).(*attemptInfo); ok {
			attrs := []attribute.KeyValue{
				attribute.Int("httpclient.attempt", info.number),
				attribute.String("httpclient.breaker.state", info.breaker),
			}
			if info.number > 1 {
				attrs = append(attrs, semconv.HTTPRequestResendCount(info.number-1))
			}
			span.SetAttributes(attrs...)
		}
	}
	return t.next.RoundTrip(req)
}
