// Package logging builds the service's structured logger: JSON lines (log/slog) on one
// writer, stdout in production, at one level for the whole process.
//
// NewHandler is the seam for what later layers add: trace_id/span_id taken from the
// context, sampling, rate limiting, asynchronous writing. Each of those is a slog.Handler
// that wraps the one below it, so they slot in between NewHandler and New without changing
// any caller.
package logging

import (
	"io"
	"log/slog"
)

// New returns a logger writing JSON lines to w, dropping records below level.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(NewHandler(w, level))
}

// NewHandler returns the JSON handler New wraps.
func NewHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: readableDurations,
	})
}

// Err is the one way to attach an error to a record, so that every line uses the same key.
func Err(err error) slog.Attr {
	return slog.Any("error", err)
}

// readableDurations writes durations as Go duration strings ("1.5s") rather than slog's
// integer nanoseconds, which nobody reads correctly at a glance.
func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}
