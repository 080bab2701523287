package logging

import (
	"context"
	"encoding/hex"
	"log/slog"
	"slices"

	"go.opentelemetry.io/otel/trace"
)

// traceHandler adds trace_id and span_id to every record logged with a context that
// holds a valid span, so a line written during a request leads to its trace and back.
// Log with the request's context (InfoContext and friends).
//
// The ids stay at the top level of the line, where a log search expects them, even from
// a logger with groups: traceHandler keeps the groups opened by WithGroup (and the
// attributes added inside them) itself and nests them at Handle, after adding the ids.
type traceHandler struct {
	next   slog.Handler // with the attributes added before any group
	groups []group      // opened since, outermost first
}

type group struct {
	name  string
	attrs []slog.Attr
}

func (h traceHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if len(h.groups) > 0 {
		r = h.nest(r)
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		traceID, spanID := hexIDs(sc)
		r.AddAttrs(slog.String("trace_id", traceID), slog.String("span_id", spanID))
	}
	return h.next.Handle(ctx, r)
}

// hexIDs spells both ids in hex as TraceID.String and SpanID.String do, in one string
// sliced in two: one allocation per line rather than two.
func hexIDs(sc trace.SpanContext) (traceID, spanID string) {
	tid, sid := sc.TraceID(), sc.SpanID()
	var buf [2*len(tid) + 2*len(sid)]byte
	hex.Encode(buf[:], tid[:])
	hex.Encode(buf[2*len(tid):], sid[:])
	ids := string(buf[:])
	return ids[:2*len(tid)], ids[2*len(tid):]
}

// nest returns r with its attributes inside h's groups.
func (h traceHandler) nest(r slog.Record) slog.Record {
	inner := make([]any, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		inner = append(inner, a)
		return true
	})
	for i := len(h.groups) - 1; i >= 0; i-- {
		g := h.groups[i]
		args := make([]any, 0, len(g.attrs)+len(inner))
		for _, a := range g.attrs {
			args = append(args, a)
		}
		inner = []any{slog.Group(g.name, append(args, inner...)...)}
	}
	nested := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	nested.Add(inner...)
	return nested
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(h.groups) == 0 {
		return traceHandler{next: h.next.WithAttrs(attrs)}
	}
	groups := slices.Clone(h.groups)
	last := &groups[len(groups)-1]
	last.attrs = append(slices.Clip(last.attrs), attrs...)
	return traceHandler{next: h.next, groups: groups}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return traceHandler{next: h.next, groups: append(slices.Clip(h.groups), group{name: name})}
}
