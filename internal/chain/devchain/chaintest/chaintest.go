// Package chaintest starts dev chains for tests.
package chaintest

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/goaleph/goaleph/internal/chain/devchain"
)

// Token starts a dev chain (blocks sealed on demand) that is closed when
// the test ends, deploys the AlephToken on it and returns a context that
// ends with the test (3 minutes at most), the chain and the token.
func Token(t testing.TB) (context.Context, *devchain.Chain, common.Address) {
	t.Helper()
	ctx, c := Start(t, 3*time.Minute)
	token, err := c.DeployToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, c, token
}

// Start starts a dev chain (blocks sealed on demand) that is closed when
// the test ends, and returns it with a context that ends with the test
// (after timeout at most).
func Start(t testing.TB, timeout time.Duration) (context.Context, *devchain.Chain) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	c, err := devchain.New(devchain.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return ctx, c
}

// Tokens returns n whole tokens (18 decimals) plus units base units.
func Tokens(n, units int64) *big.Int {
	v := new(big.Int).Mul(big.NewInt(n), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))
	return v.Add(v, big.NewInt(units))
}
