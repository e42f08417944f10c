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
	"github.com/goaleph/goaleph/internal/store/pgtest"
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

// TestUnavailableWhenKilled: with the server crashed, reads, writes and
// Ping fail with store.ErrUnavailable; a missing row is still
// store.ErrNotFound once the server is back.
func TestUnavailableWhenKilled(t *testing.T) {
	cluster := pgtest.StartCluster(t, pgtest.Durable())
	ctx := context.Background()
	db, err := Open(ctx, cluster.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash := "0000000000000000000000000000000000000000000000000000000000000000"
	if err := cluster.Kill(); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"ping":   db.Ping(ctx),
		"status": func() error { _, err := db.Status(ctx, hash); return err }(),
		"list":   func() error { _, err := db.ListMessages(ctx, store.MessageFilter{}); return err }(),
		"update": db.Update(ctx, func(tx store.Tx) error { _, err := tx.Seen(hash); return err }),
		"pending": func() error {
			_, err := db.ListPending(ctx, 0, 10)
			return err
		}(),
	} {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s on a killed server: %v", name, err)
		}
	}
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	if _, err := db.Status(ctx, hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("status after restart: %v", err)
	}
}
