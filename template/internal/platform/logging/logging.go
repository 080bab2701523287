// Package logging builds the service's structured logger: JSON lines (log/slog) on one
// writer, stdout in production.
//
// Setup stacks slog handlers, outermost first:
//
//   - a filter that samples repeated lines and rate-limits the rest (sample.go); it never
//     drops a warning or an error;
//   - a fan-out to the JSON handler, which adds trace_id and span_id to every line logged
//     with a context that holds a span (trace.go), and to the OpenTelemetry log bridge
//     when one is given;
//   - optionally an asynchronous writer with a bounded queue (async.go), which drops
//     info and debug lines when full (and counts them) but waits for room for warnings and
//     errors, and is flushed by Close.
//
// The level is a slog.LevelVar: LevelHandler shows and changes it at run time.
package logging

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// Options configure Setup. The zero value writes every line at info and above,
// synchronously, with no sampling or rate limit.
type Options struct {
	Level slog.Level

	// Sampling of repeated lines (same level and message) within each second: the first
	// SampleFirst are written, then every SampleThereafter-th (none when 0). SampleFirst 0
	// turns sampling off.
	SampleFirst      int
	SampleThereafter int

	// RateLimit is the most info and debug lines written per second; 0 is no limit.
	RateLimit int

	// AsyncQueue is how many lines the asynchronous writer buffers; 0 writes synchronously.
	AsyncQueue int

	// Bridge, when not nil, also receives every record that passed the filter: the
	// OpenTelemetry slog bridge (telemetry.LogHandler).
	Bridge slog.Handler
}

// Logging is the service's logger with its controls: the level, the drop counters and
// the flush of the asynchronous writer.
type Logging struct {
	logger *slog.Logger
	level  *slog.LevelVar
	filter *filter
	async  *asyncWriter // nil when writing synchronously
}

// Setup builds the logger writing JSON lines to w, as opts say.
func Setup(w io.Writer, opts Options) *Logging {
	l := &Logging{level: new(slog.LevelVar)}
	l.level.Set(opts.Level)

	var json slog.Handler
	if opts.AsyncQueue > 0 {
		l.async = newAsyncWriter(w, opts.AsyncQueue)
		// Two JSON handlers over the one queue: lines below warn may be dropped when it is
		// full, warnings and errors wait for room.
		json = &byLevel{
			low:  NewHandler(l.async, l.level),
			high: NewHandler(l.async.blocking(), l.level),
		}
	} else {
		json = NewHandler(w, l.level)
	}
	var h slog.Handler = traceHandler{next: json}
	if opts.Bridge != nil {
		h = fanout{h, opts.Bridge}
	}
	l.filter = newFilter(h, l.level, opts, time.Now)
	l.logger = slog.New(l.filter)
	return l
}

// New returns a logger writing JSON lines to w, dropping records below level, with trace
// ids and no sampling: for tests and tools. The service uses Setup.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(traceHandler{next: NewHandler(w, level)})
}

// NewHandler returns the JSON handler the loggers write through.
func NewHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: readableAttrs,
	})
}

// Logger is the logger to hand to the rest of the service.
func (l *Logging) Logger() *slog.Logger { return l.logger }

// Level is the level in force; LevelHandler changes it.
func (l *Logging) Level() slog.Level { return l.level.Level() }

// SetLevel changes the level at run time.
func (l *Logging) SetLevel(level slog.Level) { l.level.Set(level) }

// Sampled counts the lines dropped by sampling since start; a metric can observe it.
func (l *Logging) Sampled() int64 { return l.filter.sampled.Load() }

// RateLimited counts the lines dropped by the rate limit since start.
func (l *Logging) RateLimited() int64 { return l.filter.limited.Load() }

// AsyncDropped counts the lines the asynchronous writer dropped because its queue was
// full; always 0 when writing synchronously.
func (l *Logging) AsyncDropped() int64 {
	if l.async == nil {
		return 0
	}
	return l.async.dropped.Load()
}

// Close writes what the asynchronous writer still holds, within ctx's deadline. Lines
// logged after Close are written synchronously, so none is lost at shutdown.
func (l *Logging) Close(ctx context.Context) error {
	if l.async == nil {
		return nil
	}
	return l.async.Close(ctx)
}

// Err is the one way to attach an error to a record, so that every line uses the same key.
func Err(err error) slog.Attr {
	return slog.Any("error", err)
}

// readableAttrs writes durations as Go duration strings ("1.5s") rather than slog's
// integer nanoseconds, which nobody reads correctly at a glance. It also hands the level
// back as the string it is: with a ReplaceAttr set, the handler passes the level as a
// slog.Level value, which it would then write through its MarshalJSON and encoding/json,
// by reflection, on every line.
func readableAttrs(groups []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindDuration:
		return slog.String(a.Key, a.Value.Duration().String())
	case slog.KindAny:
		if level, ok := a.Value.Any().(slog.Level); ok && len(groups) == 0 && a.Key == slog.LevelKey {
			return slog.String(a.Key, level.String())
		}
	}
	return a
}

// byLevel sends warnings and errors to high, the rest to low.
type byLevel struct{ low, high slog.Handler }

func (h *byLevel) Enabled(ctx context.Context, level slog.Level) bool {
	return h.low.Enabled(ctx, level)
}

func (h *byLevel) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		return h.high.Handle(ctx, r)
	}
	return h.low.Handle(ctx, r)
}

func (h *byLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &byLevel{low: h.low.WithAttrs(attrs), high: h.high.WithAttrs(attrs)}
}

func (h *byLevel) WithGroup(name string) slog.Handler {
	return &byLevel{low: h.low.WithGroup(name), high: h.high.WithGroup(name)}
}

// fanout sends every record to each of its handlers that is enabled for it.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, level slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, level) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var first error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			if err := h.Handle(ctx, r.Clone()); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

func (f fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(attrs)
	}
	return out
}

func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}
