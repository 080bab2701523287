package logging

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync/atomic"
	"time"
)

// filter drops info and debug lines in two ways, counting each: sampling keeps the first
// lines of each message within a second and then every n-th; the rate limit caps the
// lines per second whatever their message. Warnings and errors pass untouched: they are
// the lines an incident is read from.
type filter struct {
	next slog.Handler
	*filterState
}

// filterState is shared by a filter and every logger derived from it (With), so limits
// and counts are the process's, not one logger's.
type filterState struct {
	level             slog.Leveler // gates every handler below, the bridge included
	first, thereafter uint64
	rateLimit         int64
	now               func() time.Time

	seed     maphash.Seed
	counters [sampleSlots]sampleCounter

	windowSec atomic.Int64 // the second the rate limit currently counts
	inWindow  atomic.Int64

	sampled atomic.Int64
	limited atomic.Int64
}

// sampleSlots is how many messages are counted apart; two messages hashing to one slot
// share its count (the cost is sampling them a little early, never dropping a warning).
const sampleSlots = 4096

type sampleCounter struct {
	sec atomic.Int64
	n   atomic.Uint64
}

func newFilter(next slog.Handler, level slog.Leveler, opts Options, now func() time.Time) *filter {
	return &filter{next: next, filterState: &filterState{
		level:      level,
		first:      uint64(max(opts.SampleFirst, 0)),
		thereafter: uint64(max(opts.SampleThereafter, 0)),
		rateLimit:  int64(max(opts.RateLimit, 0)),
		now:        now,
		seed:       maphash.MakeSeed(),
	}}
}

func (f *filter) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= f.level.Level() && f.next.Enabled(ctx, level)
}

func (f *filter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn && (f.first > 0 || f.rateLimit > 0) {
		sec := r.Time.Unix()
		if r.Time.IsZero() {
			sec = f.now().Unix()
		}
		if f.first > 0 && !f.sample(sec, r.Level, r.Message) {
			f.sampled.Add(1)
			return nil
		}
		if f.rateLimit > 0 && !f.allow(sec) {
			f.limited.Add(1)
			return nil
		}
	}
	return f.next.Handle(ctx, r)
}

// sample reports whether this line of its message is written: the first `first` of each
// second, then every `thereafter`-th (none, if thereafter is 0).
func (f *filterState) sample(sec int64, level slog.Level, msg string) bool {
	h := maphash.String(f.seed, msg)
	if level < slog.LevelInfo {
		h = ^h // a debug line is not an info line of the same message
	}
	c := &f.counters[h%sampleSlots]
	if old := c.sec.Load(); old != sec && c.sec.CompareAndSwap(old, sec) {
		c.n.Store(0)
	}
	n := c.n.Add(1)
	return n <= f.first || (f.thereafter > 0 && (n-f.first)%f.thereafter == 0)
}

// allow reports whether the rate limit has room for one more line in this second.
func (f *filterState) allow(sec int64) bool {
	if old := f.windowSec.Load(); old != sec && f.windowSec.CompareAndSwap(old, sec) {
		f.inWindow.Store(0)
	}
	return f.inWindow.Add(1) <= f.rateLimit
}

func (f *filter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &filter{next: f.next.WithAttrs(attrs), filterState: f.filterState}
}

func (f *filter) WithGroup(name string) slog.Handler {
	return &filter{next: f.next.WithGroup(name), filterState: f.filterState}
}
