package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/goaleph/goaleph/internal/store"
)

// classify wraps err with store.ErrUnavailable when it means the server
// cannot be reached, keeping err in the chain; other errors (statement
// errors, pgx.ErrNoRows, context ends) are returned as they are.
func classify(err error) error {
	if err == nil || !unreachable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

// classifyErr is classify for a deferred call on a named result.
func classifyErr(err *error) { *err = classify(*err) }

// unreachable tells whether err comes from the connection rather than from
// the statement: a refused, reset or closed connection, a failed connect,
// or a server shutting down, crashing or still recovering.
func unreachable(err error) bool {
	if errors.Is(err, store.ErrUnavailable) {
		return false // already classified
	}
	// The caller gave up: that is its own outcome, not an outage. pgconn
	// marks context errors safe to retry, hence this check comes first.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return serverUnavailable(pe.Code)
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, pgconn.ErrConnClosed) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// serverUnavailable tells whether an SQLSTATE reports the server itself
// rather than the statement: connection exceptions (class 08), an
// administrator or crash shutdown, a server not yet accepting connections
// (57P01, 57P02, 57P03), or no free connection slot (53300).
func serverUnavailable(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "53300":
		return true
	}
	return strings.HasPrefix(code, "08")
}

// classifyingQuerier classifies the errors of the pool's reads, including
// those that only surface when rows are read.
type classifyingQuerier struct{ q querier }

func (c classifyingQuerier) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := c.q.Exec(ctx, sql, args...)
	return tag, classify(err)
}

func (c classifyingQuerier) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := c.q.Query(ctx, sql, args...)
	if err != nil {
		return rows, classify(err)
	}
	return classifyingRows{rows}, nil
}

func (c classifyingQuerier) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return classifyingRow{c.q.QueryRow(ctx, sql, args...)}
}

type classifyingRows struct{ pgx.Rows }

func (r classifyingRows) Err() error { return classify(r.Rows.Err()) }

type classifyingRow struct{ row pgx.Row }

func (r classifyingRow) Scan(dest ...any) error { return classify(r.row.Scan(dest...)) }

// Ping checks that the server answers; its error wraps
// store.ErrUnavailable when it does not. The node pings while its database
// is down to notice when it is back.
func (db *DB) Ping(ctx context.Context) error {
	return classify(db.pool.Ping(ctx))
}
