// Package httpserver is the service's HTTP plumbing: a tuned http.Server, a Router that
// remembers its patterns, and the middleware every request passes through (request log,
// security headers, body limit, request deadline, panic recovery; see Chain).
package httpserver

import (
	"log/slog"
	"net/http"
	"time"
)

// Limits are the public server's timeouts and header cap. net/http reads zero as "no limit"
// for each of them, so config refuses zero rather than passing it through.
//
// When the server is given a TLS listener, the handshake is bounded by the smallest of
// ReadHeaderTimeout, ReadTimeout and WriteTimeout.
type Limits struct {
	// ReadHeaderTimeout bounds reading the request line and headers, counted from the first
	// byte of the request. It is the Slowloris defence: without it, a client that trickles
	// its headers a byte at a time holds a connection and a goroutine for as long as it
	// likes.
	ReadHeaderTimeout time.Duration

	// ReadTimeout bounds reading the whole request, headers and body, counted from the same
	// start; it must not be shorter than ReadHeaderTimeout.
	ReadTimeout time.Duration

	// WriteTimeout is a deadline set once the request headers have been read, not when the
	// handler starts writing: it bounds the handler's work and the response write together.
	// When it passes, writes fail and the connection is closed; the handler itself is not
	// stopped. What stops handlers is the earlier deadline RequestTimeout puts on
	// r.Context(), which they honour; WriteTimeout is the backstop for one that does not.
	WriteTimeout time.Duration

	// IdleTimeout bounds the wait for the next request on a keep-alive connection.
	IdleTimeout time.Duration

	// MaxHeaderBytes caps the request line plus headers; net/http answers 431 beyond it
	// (after a few KiB of slack it allows).
	MaxHeaderBytes int
}

// New returns a server for h with the given limits. Its own errors (a broken TLS handshake,
// a malformed request line) go to logger as warnings instead of the standard log package's
// unstructured output. Call Serve with a listener: New sets no address.
func New(h http.Handler, l Limits, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
