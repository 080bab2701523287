package postgres

import (
	"embed"
	"io/fs"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the context's schema migrations, plain SQL files embedded in the binary
// and applied by `<service> migrate up` (platform/database.Migrate). Add a file with the
// next number for every schema change; never edit one that has been applied.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded tree always has the folder
	}
	return sub
}
