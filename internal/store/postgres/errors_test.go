package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/goaleph/goaleph/internal/store"
)

func TestClassify(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{}}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"no rows", pgx.ErrNoRows, false},
		{"canceled", fmt.Errorf("begin: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax", &pgconn.PgError{Code: "42601"}, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"starting up", fmt.Errorf("x: %w", &pgconn.PgError{Code: "57P03"}), true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"eof", fmt.Errorf("read: %w", io.EOF), true},
		{"unexpected eof", io.ErrUnexpectedEOF, true},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"reset", syscall.ECONNRESET, true},
		{"dial", dial, true},
		{"conn closed", fmt.Errorf("x: %w", pgconn.ErrConnClosed), true},
		{"other", errors.New("boom"), false},
	} {
		got := classify(tt.err)
		if errors.Is(got, store.ErrUnavailable) != tt.want {
			t.Errorf("%s: classify(%v) = %v, unavailable want %v", tt.name, tt.err, got, tt.want)
		}
		if tt.err != nil && !errors.Is(got, tt.err) {
			t.Errorf("%s: the original error left the chain", tt.name)
		}
		if tt.want && !errors.Is(classify(got), store.ErrUnavailable) {
			t.Errorf("%s: classifying twice lost the wrap", tt.name)
		}
	}
}
