package database

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Migrate runs one migration command over the SQL files in migrations (goose's format:
// "-- +goose Up" and "-- +goose Down" sections), reporting to out:
//
//   - "up" applies every pending migration;
//   - "down" rolls back the most recent one;
//   - "status" lists each migration and whether it is applied.
//
// Every command holds a PostgreSQL session advisory lock while it runs, so replicas or
// Jobs that start at once apply each migration exactly once: the others wait, then find
// nothing pending. goose keeps the applied versions in the goose_db_version table.
func Migrate(ctx context.Context, pool *Pool, migrations fs.FS, command string, out io.Writer) error {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool.Pool)
	defer db.Close() // closes the *sql.DB only, not the pool
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	defer provider.Close()

	switch command {
	case "up":
		results, err := provider.Up(ctx)
		for _, r := range results {
			fmt.Fprintln(out, r)
		}
		if err == nil && len(results) == 0 {
			fmt.Fprintln(out, "no migrations to apply")
		}
		return err
	case "down":
		result, err := provider.Down(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			fmt.Fprintln(out, "no migrations to roll back")
			return nil
		}
		if result != nil {
			fmt.Fprintln(out, result)
		}
		return err
	case "status":
		statuses, err := provider.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range statuses {
			applied := "pending"
			if s.State == goose.StateApplied {
				applied = "applied " + s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
			}
			fmt.Fprintf(out, "%-40s %s\n", s.Source.Path, applied)
		}
		return nil
	default:
		return fmt.Errorf("unknown migrate command %q: use up, down or status", command)
	}
}
