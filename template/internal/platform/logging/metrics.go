package logging

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Report counts the log lines never written, by reason (sampled, rate_limited,
// async_queue_full), as log.records.dropped, read from l's counters whenever metrics are
// collected. Warnings and errors are never among them.
func (l *Logging) Report(mp metric.MeterProvider) error {
	meter := mp.Meter("logging")
	dropped, err := meter.Int64ObservableCounter("log.records.dropped",
		metric.WithUnit("{record}"),
		metric.WithDescription("Log lines not written: sampled out, over the rate limit, or the async queue full."))
	if err != nil {
		return err
	}
	reasons := []struct {
		attrs metric.ObserveOption
		count func() int64
	}{
		{metric.WithAttributes(attribute.String("reason", "sampled")), l.Sampled},
		{metric.WithAttributes(attribute.String("reason", "rate_limited")), l.RateLimited},
		{metric.WithAttributes(attribute.String("reason", "async_queue_full")), l.AsyncDropped},
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, r := range reasons {
			o.ObserveInt64(dropped, r.count(), r.attrs)
		}
		return nil
	}, dropped)
	return err
}
