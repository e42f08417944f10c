// Package nodetest runs in-process core nodes on loopback ports for the
// tests of other packages.
package nodetest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/node"
)

// Run starts a node with cfg on a random loopback port and returns it, its
// host:port, and a function that stops it and returns what Serve returned
// (an error as well when Serve has not returned 30 s after the stop).
// cfg.DataDir must be set; a nil cfg.Logger discards the logs.
func Run(cfg node.Config) (*node.Node, string, func() error, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.New(ctx, cfg)
	if err != nil {
		cancel()
		return nil, "", nil, fmt.Errorf("node.New: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return nil, "", nil, fmt.Errorf("listen: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("node did not stop within 30 s of cancellation")
		}
	}
	return n, ln.Addr().String(), stop, nil
}

// Start runs a node with cfg until tb ends, in a fresh data directory when
// cfg has none, and returns it and its host:port. A node that fails to
// start fails the test, and so does an error from Serve when it stops.
func Start(tb testing.TB, cfg node.Config) (*node.Node, string) {
	tb.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	n, addr, stop, err := Run(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("node: %v", err)
		}
	})
	return n, addr
}
