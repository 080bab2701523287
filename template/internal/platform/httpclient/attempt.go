package httpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
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
