// Package database is the service's PostgreSQL connection pool: settings validated at
// start-up, a pool that connects on first use, a readiness check, query tracing with the
// statement's name only, pool metrics, and the schema migrations (migrate.go).
package database

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Config is what the pool is built from: DATABASE_URL and the DATABASE_* settings, read by
// platform/config.
type Config struct {
	// URL is a postgres:// (or postgresql://) connection URL; it holds the password, so it
	// comes from a Secret and is never logged.
	URL string
	// MaxConns and MinConns bound the pool. Every replica holds up to MaxConns connections:
	// replicas x MaxConns must stay under the server's max_connections.
	MaxConns int32
	MinConns int32
	// MaxConnLifetime closes a connection this old (spread by 10% jitter), so connections
	// move to a new primary or a scaled proxy; MaxConnIdleTime closes idle ones.
	MaxConnLifetime time.Duration
	MaxConnIdleTime time.Duration
	// ConnectTimeout bounds dialling and authenticating one connection.
	ConnectTimeout time.Duration
	// StatementTimeout is the server's statement_timeout for every connection: a statement
	// running longer is cancelled by PostgreSQL itself, whatever the client does.
	StatementTimeout time.Duration
}

// DefaultConfig returns the settings used for every variable that is not set.
func DefaultConfig() Config {
	return Config{
		MaxConns:         10,
		MinConns:         0,
		MaxConnLifetime:  30 * time.Minute,
		MaxConnIdleTime:  5 * time.Minute,
		ConnectTimeout:   5 * time.Second,
		StatementTimeout: 5 * time.Second,
	}
}

// PoolConfig turns c into pgx's pool configuration; it fails for a URL pgx cannot parse.
// platform/config calls it at start-up, so a service with a bad DATABASE_URL stops there.
func (c Config) PoolConfig() (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(c.URL)
	if err != nil {
		// pgconn's message repeats the URL with the password masked; keep only the reason.
		var pe interface{ Unwrap() error }
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			return nil, pe.Unwrap()
		}
		return nil, errors.New("not a valid connection URL")
	}
	pc.MaxConns = c.MaxConns
	pc.MinConns = c.MinConns
	pc.MaxConnLifetime = c.MaxConnLifetime
	pc.MaxConnLifetimeJitter = c.MaxConnLifetime / 10
	pc.MaxConnIdleTime = c.MaxConnIdleTime
	pc.ConnConfig.ConnectTimeout = c.ConnectTimeout
	pc.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(c.StatementTimeout.Milliseconds(), 10)
	return pc, nil
}

// RedactedURL is the URL without its password, for logs and error messages.
func (c Config) RedactedURL() string {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

// Pool is the connection pool with its instrumentation.
type Pool struct {
	*pgxpool.Pool
	metrics metric.Registration
}

// Open builds the pool. It does not connect: connections are made on first use (and
// MinConns in the background), so a service starts while its database is still coming
// up and /readyz says when it can serve. Queries get spans from tp named after the
// statement (see Tracer); pool statistics are reported through mp.
func Open(ctx context.Context, cfg Config, tp trace.TracerProvider, mp metric.MeterProvider) (*Pool, error) {
	pc, err := cfg.PoolConfig()
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pc.ConnConfig.Tracer = NewTracer(tp, pc.ConnConfig)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	reg, err := registerPoolMetrics(mp, pool)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("database pool metrics: %w", err)
	}
	return &Pool{Pool: pool, metrics: reg}, nil
}

// Check is the readiness check: one round trip on a pooled connection, bounded by the
// health registry's check timeout through ctx. Liveness never calls it: a database outage
// makes the service unready, it must not make the kubelet restart it.
func (p *Pool) Check(ctx context.Context) error {
	return p.Ping(ctx)
}

// Close waits for the connections in use to be released, then closes every connection.
// Call it after the HTTP server has drained, so no request loses its connection.
func (p *Pool) Close() {
	if p.metrics != nil {
		_ = p.metrics.Unregister() // only fails for a registration from another provider
	}
	p.Pool.Close()
}
