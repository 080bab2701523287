// Package telemetry sets up OpenTelemetry tracing for the service: a TracerProvider from
// the SDK, the W3C TraceContext and Baggage propagators, and server spans for HTTP.
//
// Configuration is the SDK's own OTEL_* environment variables, read as the SDK defines
// them (the SDK reads the process environment itself, so this package does too):
//
//   - OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES describe the service; service.name
//     and service.version default to the values the caller passes in.
//   - Spans are exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT or
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, or OTEL_TRACES_EXPORTER=otlp (then to
//     localhost:4318); the exporter reads the other OTEL_EXPORTER_OTLP_* variables and the
//     batch processor the OTEL_BSP_* ones.
//   - OTEL_TRACES_EXPORTER=none stops export; OTEL_SDK_DISABLED=true turns tracing off.
//   - OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG choose the sampler (default
//     parentbased_always_on).
//
// With none of these set, spans are still created, so trace context flows through the
// service and into its outgoing calls, but nothing is exported and nothing is logged about
// a missing collector.
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

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Service identifies the service in its telemetry unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES say otherwise.
type Service struct {
	Name    string
	Version string
}

// Telemetry holds the providers the service reports through.
type Telemetry struct {
	tracerProvider trace.TracerProvider
	propagator     propagation.TextMapPropagator
	exporting      bool
	metrics        metricsSetup
	shutdown       []func(context.Context) error
}

// New builds the providers from the OTEL_* environment. An error names the variable that
// is wrong; nothing has been started then.
func New(ctx context.Context, svc Service) (*Telemetry, error) {
	t := &Telemetry{
		// Set explicitly: the SDK's default propagator propagates nothing.
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		metrics:    metricsSetup{provider: metricnoop.NewMeterProvider()},
	}

	disabled, err := envBool("OTEL_SDK_DISABLED")
	if err != nil {
		return nil, err
	}
	if disabled {
		// No spans at all; incoming trace context still passes through to outgoing calls.
		t.tracerProvider = noop.NewTracerProvider()
		return t, nil
	}

	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(svc.Name), semconv.ServiceVersion(svc.Version)),
		// Later options win: the environment overrides the defaults above.
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES or OTEL_SERVICE_NAME: %w", err)
	}

	t.metrics, err = newMetrics(ctx, res)
	if err != nil {
		return nil, err
	}
	if t.metrics.shutdown != nil {
		t.shutdown = append(t.shutdown, t.metrics.shutdown)
	}

	// The SDK reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG itself.
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	export, err := exportTraces()
	if err != nil {
		return nil, err
	}
	if export {
		// New does not connect: an unreachable collector shows up as export errors later.
		exporter, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_*: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exporter))
		t.exporting = true
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t.tracerProvider = tp
	t.shutdown = append(t.shutdown, tp.Shutdown)
	return t, nil
}

// exportTraces reports whether spans go to an OTLP exporter.
func exportTraces() (bool, error) {
	// The exporter speaks OTLP over HTTP; refuse a protocol setting it would ignore.
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if protocol := os.Getenv(name); protocol != "" && protocol != "http/protobuf" {
			return false, fmt.Errorf("invalid %s=%q: this service exports http/protobuf only", name, protocol)
		}
	}
	switch exporter := os.Getenv("OTEL_TRACES_EXPORTER"); exporter {
	case "otlp":
		return true, nil
	case "none":
		return false, nil
	case "":
		return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "", nil
	default:
		return false, fmt.Errorf("invalid OTEL_TRACES_EXPORTER=%q: must be otlp or none", exporter)
	}
}

// envBool reads a boolean OTEL_* variable; unset or empty is false.
func envBool(name string) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(strings.ToLower(v))
	if err != nil {
		return false, fmt.Errorf("invalid %s=%q: must be true or false", name, v)
	}
	return b, nil
}

// Exporting reports whether spans are exported.
func (t *Telemetry) Exporting() bool { return t.exporting }

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

// InstallGlobals makes t's providers and propagator the OpenTelemetry globals, for
// instrumentation libraries that take no provider, and routes the SDK's internal errors
// (failed exports, dropped spans) to handle instead of the standard logger on stderr.
// Only the composition root calls it.
func (t *Telemetry) InstallGlobals(handle func(error)) {
	otel.SetTracerProvider(t.tracerProvider)
	otel.SetMeterProvider(t.metrics.provider)
	otel.SetTextMapPropagator(t.propagator)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(handle))
}

// Middleware starts a server span for every request, continuing the trace named by the
// request's traceparent header. Requests for the untraced paths (e.g. the probes, which
// the kubelet calls every few seconds) get no span.
func (t *Telemetry) Middleware(untraced ...string) func(http.Handler) http.Handler {
	if t.tracingOff() {
		return t.propagateOnly
	}
	return func(next http.Handler) http.Handler {
		return otelhttp.NewHandler(next, "http.server",
			otelhttp.WithTracerProvider(t.tracerProvider),
			// The server's metrics come from httpserver.Metrics, with bounded labels; otelhttp's
			// would label them with the client's Host header.
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
			otelhttp.WithPropagators(t.propagator),
			otelhttp.WithFilter(func(r *http.Request) bool { return !slices.Contains(untraced, r.URL.Path) }),
		)
	}
}

// Shutdown flushes the spans still buffered and stops the providers, within ctx's
// deadline. Errors of every provider are returned together.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, shutdown := range t.shutdown {
		if err := shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry shutdown: %w", err)
	}
	return nil
}
