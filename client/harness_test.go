package client_test

import (
	"os"
	"testing"

	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/node/nodetest"
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
	_, addr, stopNode, err := nodetest.Run(cfg)
	if err != nil {
		return "", nil, err
	}
	stop := func() error {
		err := stopNode()
		if dir != "" {
			os.RemoveAll(dir)
		}
		return err
	}
	return "http://" + addr, stop, nil
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
