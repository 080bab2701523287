package database

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// Error codes of PostgreSQL (Appendix A of its manual) that adapters map to domain errors.
const (
	UniqueViolation = "23505"
)

// IsCode reports whether err is a PostgreSQL error with the given SQLSTATE code.
func IsCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// errorType names an error for a span: the SQLSTATE of a server error, else its kind.
func errorType(err error) string {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr):
		return pgErr.Code
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "client"
	}
}
