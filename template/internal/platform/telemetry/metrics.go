package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// metricsSetup is what newMetrics builds.
type metricsSetup struct {
	provider  metric.MeterProvider
	handler   http.Handler // GET /metrics with the prometheus exporter, else nil
	exporters []string
	shutdown  func(context.Context) error // nil without an exporter
}

// newMetrics builds the MeterProvider for res and starts the Go runtime metrics on it.
// Metrics go where OTEL_METRICS_EXPORTER says, a comma-separated list of
//
//   - otlp: pushed over OTLP every OTEL_METRIC_EXPORT_INTERVAL (60 s by default), over
//     http/protobuf or grpc as OTEL_EXPORTER_OTLP_METRICS_PROTOCOL or
//     OTEL_EXPORTER_OTLP_PROTOCOL say; the exporter reads the other
//     OTEL_EXPORTER_OTLP_* variables;
//   - prometheus: served as /metrics on the admin listener, never on the public one (the
//     OTEL_EXPORTER_PROMETHEUS_HOST and _PORT of a listener of its own do not apply);
//   - console: written to stdout as JSON, for a look during development;
//   - none: not exported (alone only).
//
// Unset, it is otlp when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT
// is set, and none otherwise: the quiet embedded default, as for traces. With no exporter
// the instruments are no-ops and cost next to nothing.
func newMetrics(ctx context.Context, res *resource.Resource) (metricsSetup, error) {
	names, err := metricExporters()
	if err != nil {
		return metricsSetup{}, err
	}
	if len(names) == 0 {
		return metricsSetup{provider: noop.NewMeterProvider()}, nil
	}
	setup := metricsSetup{exporters: names}
	opts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	for _, name := range names {
		var reader sdkmetric.Reader
		switch name {
		case "prometheus":
			// A registry of its own: /metrics shows this service's OpenTelemetry metrics and
			// nothing a library registered on the global one.
			registry := prometheus.NewRegistry()
			exporter, err := promexporter.New(promexporter.WithRegisterer(registry))
			if err != nil {
				return metricsSetup{}, fmt.Errorf("OTEL_METRICS_EXPORTER=prometheus: %w", err)
			}
			reader = exporter
			setup.handler = promhttp.HandlerFor(registry, promhttp.HandlerOpts{EnableOpenMetrics: true})
		case "otlp":
			// New does not connect: an unreachable collector shows up as export errors later.
			exporter, err := otlpMetricExporter(ctx)
			if err != nil {
				return metricsSetup{}, err
			}
			reader = sdkmetric.NewPeriodicReader(exporter) // reads OTEL_METRIC_EXPORT_*
		case "console":
			exporter, err := stdoutmetric.New()
			if err != nil {
				return metricsSetup{}, fmt.Errorf("OTEL_METRICS_EXPORTER=console: %w", err)
			}
			reader = sdkmetric.NewPeriodicReader(exporter)
		}
		opts = append(opts, sdkmetric.WithReader(reader))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	setup.provider, setup.shutdown = mp, mp.Shutdown
	// Goroutines, heap, GC goal, GOMEMLIMIT and GOMAXPROCS, read at most every 15 s.
	if err := runtime.Start(runtime.WithMeterProvider(mp)); err != nil {
		return metricsSetup{}, fmt.Errorf("runtime metrics: %w", err)
	}
	return setup, nil
}

// metricExporters reads OTEL_METRICS_EXPORTER; no names means no export.
func metricExporters() ([]string, error) {
	value := os.Getenv("OTEL_METRICS_EXPORTER")
	if strings.TrimSpace(value) == "" {
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != "" {
			return []string{"otlp"}, nil
		}
		return nil, nil
	}
	var names []string
	for name := range strings.SplitSeq(value, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "otlp", "prometheus", "console", "none":
		default:
			return nil, fmt.Errorf("invalid OTEL_METRICS_EXPORTER=%q: each of its comma-separated names must be otlp, prometheus, console or none", value)
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if slices.Contains(names, "none") {
		if len(names) > 1 {
			return nil, fmt.Errorf("invalid OTEL_METRICS_EXPORTER=%q: none cannot be combined with an exporter", value)
		}
		return nil, nil
	}
	return names, nil
}

// otlpMetricExporter is the OTLP exporter of the protocol the environment names.
func otlpMetricExporter(ctx context.Context) (sdkmetric.Exporter, error) {
	name, protocol := "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", os.Getenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")
	if protocol == "" {
		name, protocol = "OTEL_EXPORTER_OTLP_PROTOCOL", os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var (
		exporter sdkmetric.Exporter
		err      error
	)
	switch protocol {
	case "", "http/protobuf":
		exporter, err = otlpmetrichttp.New(ctx)
	case "grpc":
		exporter, err = otlpmetricgrpc.New(ctx)
	default:
		return nil, fmt.Errorf("invalid %s=%q: must be http/protobuf or grpc", name, protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_*: %w", err)
	}
	return exporter, nil
}
