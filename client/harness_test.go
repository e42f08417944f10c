package client_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"

	"github.com/goaleph/goaleph/internal/node"
)

// runNode starts an in-process core node on a random loopback port and
// returns its base URL and a function that stops it and removes its data.
func runNode(cfg node.Config) (string, func() error, error) {
	dir := ""
	if cfg.DataDir == "" {
		d, err := os.MkdirTemp("", "goaleph-client-")
		if err != nil {
			return "", nil, err
		}
		cfg.DataDir, dir = d, d
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.New(ctx, cfg)
	if err != nil {
		cancel()
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return "", nil, err
	}
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	stop := func() error {
		cancel()
		err := <-done
		if dir != "" {
			os.RemoveAll(dir)
		}
		return err
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// startNode runs a node until the test ends.
func startNode(tb testing.TB, cfg node.Config) string {
	tb.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	u, stop, err := runNode(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("node: %v", err)
		}
	})
	return u
}
