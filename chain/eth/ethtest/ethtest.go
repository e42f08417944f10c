// Package ethtest gives tests throwaway Ethereum accounts.
package ethtest

import (
	"testing"

	"github.com/goaleph/goaleph/chain/eth"
)

// Account returns a new random account; it fails the test if none can be
// made.
func Account(t testing.TB) *eth.Account {
	t.Helper()
	a, err := eth.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	return a
}
