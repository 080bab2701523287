// Package telemetry sets up OpenTelemetry for the service: one resource describing the
// process, a TracerProvider, the optional log bridge, the W3C TraceContext and Baggage
// propagators, server spans for HTTP, and one Shutdown that flushes them all.
//
// Configuration is the SDK's own OTEL_* environment variables, read as the specification
// defines them (the SDK reads the process environment itself, so this package does too):
//
//   - OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES describe the service; see newResource.
//   - OTEL_TRACES_EXPORTER chooses the exporters: otlp, console, none, or a
//     comma-separated list. OTLP speaks http/protobuf (the default) or grpc, as
//     OTEL_EXPORTER_OTLP_PROTOCOL or OTEL_EXPORTER_OTLP_TRACES_PROTOCOL say, to
//     OTEL_EXPORTER_OTLP_ENDPOINT (or the _TRACES_ one), with the other
//     OTEL_EXPORTER_OTLP_* variables; the batch processor reads OTEL_BSP_*.
//   - OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG choose the sampler (default
//     parentbased_always_on: a request continues its caller's decision).
//   - OTEL_LOGS_EXPORTER=otlp (or console) also sends log records through the slog bridge.
//   - OTEL_PROPAGATORS: tracecontext and baggage (the default), or none.
//   - OTEL_SDK_DISABLED=true turns the SDK off: no spans, trace context still passes.
//
// The embedded default: with no exporter and no endpoint set, spans are still created, so
// trace context flows through the service and into its outgoing calls and logs carry
// trace ids, but nothing is exported and nothing is logged about a missing collector. Those
// spans do not record (unexported.go): a request pays for its ids, not for a span nobody
// reads.
//
// A value the SDK would ignore or misread is a *ConfigError from New, never a silent
// fallback.
//
// Metrics (metrics.go) come from the same resource and shut down through the same
// [Telemetry.Shutdown].
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// instrumentationName names this package as the source of the log bridge's records.
const instrumentationName = "telemetry"

// Service identifies the service in its telemetry unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES say otherwise.
type Service struct {
	Name    string
	Version string
}

// Telemetry holds the providers the service reports through.
type Telemetry struct {
	resource       *resource.Resource // nil when the SDK is disabled
	tracerProvider trace.TracerProvider
	loggerProvider *sdklog.LoggerProvider // nil unless logs are exported
	propagator     propagation.TextMapPropagator
	exporters      []string
	metrics        metricsSetup
	shutdown       []func(context.Context) error
}

// New builds the providers from the OTEL_* environment. An error is a *ConfigError
// naming the variable that is wrong; nothing has been started then.
func New(ctx context.Context, svc Service) (*Telemetry, error) {
	if err := checkEnv(); err != nil {
		return nil, err
	}
	propagator, err := propagatorFromEnv()
	if err != nil {
		return nil, err
	}
	// Metrics are no-ops unless newMetrics finds an exporter (and with the SDK disabled).
	t := &Telemetry{propagator: propagator, metrics: metricsSetup{provider: metricnoop.NewMeterProvider()}}

	if disabled, _ := strconv.ParseBool(strings.ToLower(os.Getenv("OTEL_SDK_DISABLED"))); disabled {
		// No spans at all; incoming trace context still passes through to outgoing calls.
		t.tracerProvider = noop.NewTracerProvider()
		return t, nil
	}

	// Every provider reports from the same resource.
	t.resource, err = newResource(ctx, svc)
	if err != nil {
		return nil, err
	}
	t.metrics, err = newMetrics(ctx, t.resource)
	if err != nil {
		return nil, err
	}
	if t.metrics.shutdown != nil {
		t.shutdown = append(t.shutdown, t.metrics.shutdown)
	}
	tp, exporters, err := newTracerProvider(ctx, t.resource)
	if err != nil {
		return nil, errors.Join(err, t.Shutdown(ctx))
	}
	t.tracerProvider, t.exporters = tp, exporters
	if sdk, ok := tp.(*sdktrace.TracerProvider); ok { // what is exported flushes at shutdown
		t.shutdown = append(t.shutdown, sdk.Shutdown)
	}

	lp, err := newLoggerProvider(ctx, t.resource)
	if err != nil {
		return nil, errors.Join(err, t.Shutdown(ctx))
	}
	if lp != nil {
		t.loggerProvider = lp
		t.shutdown = append(t.shutdown, lp.Shutdown)
	}
	return t, nil
}

// propagatorFromEnv builds the propagators OTEL_PROPAGATORS names. Set explicitly: the
// SDK's own default propagates nothing.
func propagatorFromEnv() (propagation.TextMapPropagator, error) {
	names := listEnv("OTEL_PROPAGATORS")
	if len(names) == 0 {
		names = []string{"tracecontext", "baggage"}
	}
	var props []propagation.TextMapPropagator
	for _, name := range names {
		switch name {
		case "tracecontext":
			props = append(props, propagation.TraceContext{})
		case "baggage":
			props = append(props, propagation.Baggage{})
		case "none":
		default:
			return nil, &ConfigError{Name: "OTEL_PROPAGATORS", Value: os.Getenv("OTEL_PROPAGATORS"),
				Reason: "must list tracecontext, baggage or none"}
		}
	}
	return propagation.NewCompositeTextMapPropagator(props...), nil
}

// Exporting reports whether spans are exported.
func (t *Telemetry) Exporting() bool { return len(t.exporters) > 0 }

// Exporters names the span exporters in use, e.g. [otlp]; none when nothing is exported.
func (t *Telemetry) Exporters() []string { return slices.Clone(t.exporters) }

// TracerProvider is the provider components create their tracers from.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tracerProvider }

// MeterProvider is the provider components create their meters from.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.metrics.provider }

// MetricsExporters names the metric exporters in use (OTEL_METRICS_EXPORTER); none when
// metrics are not exported.
func (t *Telemetry) MetricsExporters() []string { return slices.Clone(t.metrics.exporters) }

// MetricsHandler serves the metrics in the Prometheus text and OpenMetrics formats with
// OTEL_METRICS_EXPORTER=prometheus, for the admin listener's /metrics; nil otherwise.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metrics.handler }

// Propagator injects and extracts trace context and baggage in HTTP headers.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.propagator }

// ErrorInterval is how often, at most, InstallGlobals passes an SDK error on. A collector
// that is down fails every batch; one line per interval says so, with the count of the
// errors in between.
const ErrorInterval = 30 * time.Second

// InstallGlobals makes t's providers and propagator the OpenTelemetry globals, for
// instrumentation libraries that take no provider, and routes the SDK's internal errors
// (failed exports, dropped spans) to handle, at most one per ErrorInterval, instead of the
// standard logger on stderr. Only the composition root calls it.
func (t *Telemetry) InstallGlobals(handle func(err error, suppressed int)) {
	otel.SetTracerProvider(t.tracerProvider)
	otel.SetMeterProvider(t.metrics.provider)
	otel.SetTextMapPropagator(t.propagator)
	otel.SetErrorHandler(&limitedHandler{handle: handle, interval: ErrorInterval, now: time.Now})
}

// limitedHandler passes on the first error and then at most one per interval, with the
// number it swallowed since the last one it passed.
type limitedHandler struct {
	handle   func(err error, suppressed int)
	interval time.Duration
	now      func() time.Time

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (h *limitedHandler) Handle(err error) {
	h.mu.Lock()
	now := h.now()
	if !h.last.IsZero() && now.Sub(h.last) < h.interval {
		h.suppressed++
		h.mu.Unlock()
		return
	}
	suppressed := h.suppressed
	h.last, h.suppressed = now, 0
	h.mu.Unlock()
	h.handle(err, suppressed)
}

// Shutdown flushes what is still buffered and stops the providers, within ctx's deadline.
// Errors of every provider are returned together.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, shutdown := range slices.Backward(t.shutdown) {
		if err := shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	t.shutdown = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry shutdown: %w", err)
	}
	return nil
}
