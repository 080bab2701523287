package database

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// registerPoolMetrics reports the pool's statistics, read when the meter collects, under
// OpenTelemetry's database client names: connections by state, the pool's size limit, and
// how long requests waited for a connection.
func registerPoolMetrics(mp metric.MeterProvider, pool *pgxpool.Pool) (metric.Registration, error) {
	meter := mp.Meter(instrumentationName)
	count, err := meter.Int64ObservableUpDownCounter("db.client.connection.count",
		metric.WithUnit("{connection}"), metric.WithDescription("Connections in the pool, by state (idle or used)."))
	if err != nil {
		return nil, err
	}
	limit, err := meter.Int64ObservableUpDownCounter("db.client.connection.max",
		metric.WithUnit("{connection}"), metric.WithDescription("The most connections the pool opens."))
	if err != nil {
		return nil, err
	}
	waits, err := meter.Int64ObservableCounter("db.client.connection.empty_acquires",
		metric.WithUnit("{acquire}"), metric.WithDescription("Acquires that had to wait: no idle connection was free."))
	if err != nil {
		return nil, err
	}
	waited, err := meter.Float64ObservableCounter("db.client.connection.empty_acquire_wait_time",
		metric.WithUnit("s"), metric.WithDescription("Time spent waiting for a connection when none was idle."))
	if err != nil {
		return nil, err
	}
	idle := metric.WithAttributes(attribute.String("db.client.connection.state", "idle"))
	used := metric.WithAttributes(attribute.String("db.client.connection.state", "used"))
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := pool.Stat()
		o.ObserveInt64(count, int64(s.IdleConns()), idle)
		o.ObserveInt64(count, int64(s.AcquiredConns()), used)
		o.ObserveInt64(limit, int64(s.MaxConns()))
		o.ObserveInt64(waits, s.EmptyAcquireCount())
		o.ObserveFloat64(waited, s.EmptyAcquireWaitTime().Seconds())
		return nil
	}, count, limit, waits, waited)
}
