package telemetry

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// newTracerProvider builds the TracerProvider: the sampler from OTEL_TRACES_SAMPLER, one
// batch span processor per exporter of OTEL_TRACES_EXPORTER (each reads OTEL_BSP_*), and
// the exporters' names. With no exporter it is the unexportedProvider: trace context
// without recording spans.
func newTracerProvider(ctx context.Context, res *resource.Resource) (trace.TracerProvider, []string, error) {
	sampler, err := samplerFromEnv()
	if err != nil {
		return nil, nil, err
	}
	names, exporters, err := spanExporters(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(exporters) == 0 {
		return newUnexportedProvider(sampler), nil, nil
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler)}
	for _, exporter := range exporters {
		// New does not connect: an unreachable collector shows up as export errors later,
		// on the error handler, and never slows a request (the processor drops spans when
		// its queue is full rather than block).
		opts = append(opts, sdktrace.WithBatcher(exporter))
	}
	return sdktrace.NewTracerProvider(opts...), names, nil
}

// spanExporters returns the exporters OTEL_TRACES_EXPORTER names, as the specification
// defines it (otlp, console, none, or a comma-separated list of them), with one
// exception that keeps the embedded default quiet: unset, it means otlp only when an
// OTLP endpoint is configured, and no export at all otherwise.
func spanExporters(ctx context.Context) ([]string, []sdktrace.SpanExporter, error) {
	names := listEnv("OTEL_TRACES_EXPORTER")
	if len(names) == 0 {
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, nil, nil
		}
		names = []string{"otlp"}
	}
	if len(names) == 1 {
		// The common case: autoexport reads the variables exactly as the other
		// OpenTelemetry SDKs do.
		exporter, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, nil, exporterError("OTEL_TRACES_EXPORTER", err)
		}
		if autoexport.IsNoneSpanExporter(exporter) {
			return nil, nil, nil
		}
		return names, []sdktrace.SpanExporter{exporter}, nil
	}
	// autoexport takes one name; a list is built from the same exporters, one by one.
	exporters := make([]sdktrace.SpanExporter, 0, len(names))
	for i, name := range names {
		if slices.Contains(names[:i], name) || name == "none" {
			return nil, nil, &ConfigError{Name: "OTEL_TRACES_EXPORTER", Value: os.Getenv("OTEL_TRACES_EXPORTER"),
				Reason: "a list names each exporter once, and none only alone"}
		}
		exporter, err := spanExporter(ctx, name)
		if err != nil {
			return nil, nil, exporterError("OTEL_TRACES_EXPORTER", err)
		}
		exporters = append(exporters, exporter)
	}
	return names, exporters, nil
}

// spanExporter builds one exporter of a list, the way autoexport builds it alone.
func spanExporter(ctx context.Context, name string) (sdktrace.SpanExporter, error) {
	switch name {
	case "otlp":
		protocol := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		if protocol == "" {
			protocol = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		if protocol == "grpc" {
			return otlptracegrpc.New(ctx)
		}
		return otlptracehttp.New(ctx)
	case "console":
		return stdouttrace.New()
	default:
		return nil, fmt.Errorf("unknown exporter %q", name)
	}
}

// exporterError turns a failure to build an exporter into the configuration error it is.
func exporterError(name string, err error) error {
	return &ConfigError{Name: name, Value: os.Getenv(name), Reason: err.Error() + " (known: otlp, console, none)"}
}

// samplerFromEnv builds the sampler OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
// name (default parentbased_always_on). The SDK would read them too, but fall back to its
// default on a value it does not know; here that is a configuration error.
func samplerFromEnv() (sdktrace.Sampler, error) {
	name := os.Getenv("OTEL_TRACES_SAMPLER")
	arg, hasArg := os.LookupEnv("OTEL_TRACES_SAMPLER_ARG")
	hasArg = hasArg && arg != ""
	ratio := 1.0
	switch name {
	case "traceidratio", "parentbased_traceidratio":
		if hasArg {
			r, err := strconv.ParseFloat(arg, 64)
			if err != nil || r < 0 || r > 1 {
				return nil, &ConfigError{Name: "OTEL_TRACES_SAMPLER_ARG", Value: arg, Reason: "must be a ratio from 0 to 1"}
			}
			ratio = r
		}
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
		if hasArg {
			return nil, &ConfigError{Name: "OTEL_TRACES_SAMPLER_ARG", Value: arg,
				Reason: "only the traceidratio samplers take an argument; OTEL_TRACES_SAMPLER is " + strconv.Quote(name)}
		}
	default:
		return nil, &ConfigError{Name: "OTEL_TRACES_SAMPLER", Value: name,
			Reason: "must be always_on, always_off, traceidratio or one of them prefixed parentbased_"}
	}
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	default: // "" and parentbased_always_on
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	}
}
