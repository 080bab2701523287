package telemetry

import (
	"context"
	"log/slog"
	"os"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
)

// newLoggerProvider builds the LoggerProvider behind the slog bridge, or nil when logs
// are not exported. Unlike the specification's default (otlp), logs go out over OTLP only
// when OTEL_LOGS_EXPORTER asks for it: stdout is the service's log stream, and the bridge
// a second, optional one. Its batch processor reads OTEL_BLRP_*.
func newLoggerProvider(ctx context.Context, res *resource.Resource) (*sdklog.LoggerProvider, error) {
	names := listEnv("OTEL_LOGS_EXPORTER")
	if len(names) == 0 {
		return nil, nil
	}
	if len(names) > 1 {
		return nil, &ConfigError{Name: "OTEL_LOGS_EXPORTER", Value: os.Getenv("OTEL_LOGS_EXPORTER"),
			Reason: "must be one of otlp, console or none"}
	}
	exporter, err := autoexport.NewLogExporter(ctx)
	if err != nil {
		return nil, exporterError("OTEL_LOGS_EXPORTER", err)
	}
	if autoexport.IsNoneLogExporter(exporter) {
		return nil, nil
	}
	return sdklog.NewLoggerProvider(
		sdklog.WithResource(res),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(exporter)),
	), nil
}

// LogHandler returns the slog handler that sends records through the OpenTelemetry log
// bridge, with the trace and span of the record's context, or nil when OTEL_LOGS_EXPORTER
// does not ask for logs. logging.Options.Bridge takes it.
func (t *Telemetry) LogHandler() slog.Handler {
	if t.loggerProvider == nil {
		return nil
	}
	return otelslog.NewHandler(instrumentationName, otelslog.WithLoggerProvider(t.loggerProvider))
}
