// Package devnettest starts devnets for tests: a real core node in one
// call, stopped when the test ends.
package devnettest

import (
	"testing"

	"github.com/goaleph/goaleph/internal/devnet"
)

// Core starts a one-node devnet, stopped (its errors reported) when t
// ends, and returns its core node.
func Core(t testing.TB) *devnet.Node {
	t.Helper()
	nw, err := devnet.Start(t.Context(), devnet.Config{Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Stop(); err != nil {
			t.Errorf("devnet stop: %v", err)
		}
	})
	return nw.Nodes()[0]
}
