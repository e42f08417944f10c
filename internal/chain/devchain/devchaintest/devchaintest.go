// Package devchaintest starts a dev chain for a test.
package devchaintest

import (
	"context"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/chain/devchain"
)

// Start returns a fresh dev chain, closed when t ends, and a context that
// ends with t or after two minutes.
func Start(t testing.TB) (*devchain.Chain, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	c, err := devchain.New(devchain.Config{})
	if err != nil {
		t.Fatalf("devchain: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("devchain: close: %v", err)
		}
	})
	return c, ctx
}
