package telemetry

import (
	"context"
	"encoding/binary"
	"math/rand/v2"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// unexportedProvider is the TracerProvider when no exporter is configured. Its spans carry
// trace context exactly as the SDK's would (the caller's trace id or a new one, a new span
// id, the configured sampler's decision and trace state), so the trace still flows into
// the outgoing calls and the log lines; but they record nothing, because nothing would
// ever read it. The SDK's provider would fill a recording span per request (its
// attributes, events, a lock, an end time) only for a processor-less pipeline to drop it.
type unexportedProvider struct {
	embedded.TracerProvider

	tracer unexportedTracer
}

func newUnexportedProvider(sampler sdktrace.Sampler) *unexportedProvider {
	return &unexportedProvider{tracer: unexportedTracer{sampler: sampler}}
}

func (p *unexportedProvider) Tracer(string, ...trace.TracerOption) trace.Tracer { return p.tracer }

type unexportedTracer struct {
	embedded.Tracer

	sampler sdktrace.Sampler
}

// Start makes the span context of a new span the way the SDK's tracer does, and puts it on
// the context as a span that does not record.
func (t unexportedTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	cfg := trace.NewSpanStartConfig(opts...)
	var parent trace.SpanContext
	if cfg.NewRoot() {
		ctx = trace.ContextWithSpanContext(ctx, parent) // the sampler must see no parent either
	} else {
		parent = trace.SpanContextFromContext(ctx)
	}
	traceID := parent.TraceID()
	if !traceID.IsValid() {
		traceID = newTraceID()
	}
	decision := t.sampler.ShouldSample(sdktrace.SamplingParameters{
		ParentContext: ctx,
		TraceID:       traceID,
		Name:          name,
		Kind:          cfg.SpanKind(),
		Attributes:    cfg.Attributes(),
		Links:         cfg.Links(),
	})
	flags := parent.TraceFlags() &^ trace.FlagsSampled
	if decision.Decision == sdktrace.RecordAndSample {
		flags |= trace.FlagsSampled
	}
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    traceID,
		SpanID:     newSpanID(),
		TraceFlags: flags,
		TraceState: decision.Tracestate,
	}))
	return ctx, trace.SpanFromContext(ctx)
}

// newTraceID and newSpanID draw from the runtime's per-thread generator: no lock shared
// by every request, unlike the SDK's default generator. Neither id may be all zeros. Ids
// must be unique, not secret (the SDK draws them from math/rand as well).
func newTraceID() (id trace.TraceID) {
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:8], rand.Uint64()) // #nosec G404 -- an id, not a secret
		binary.BigEndian.PutUint64(id[8:], rand.Uint64()) // #nosec G404 -- an id, not a secret
	}
	return id
}

func newSpanID() (id trace.SpanID) {
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:], rand.Uint64()) // #nosec G404 -- an id, not a secret
	}
	return id
}
