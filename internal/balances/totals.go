package balances

import (
	"math/big"

	"github.com/goaleph/goaleph/internal/store"
)

// Totals sums an address's balance rows as the reference's balance
// endpoint does: dApp rows are left out; with chain set only that chain's
// rows count and byChain is empty, else byChain holds the sum per chain.
func Totals(rows []store.Balance, chain string) (total *big.Int, byChain map[string]*big.Int) {
	total, byChain = new(big.Int), map[string]*big.Int{}
	for _, b := range rows {
		if b.Dapp != "" || (chain != "" && b.Chain != chain) {
			continue
		}
		total.Add(total, b.Amount)
		if chain == "" {
			if byChain[b.Chain] == nil {
				byChain[b.Chain] = new(big.Int)
			}
			byChain[b.Chain].Add(byChain[b.Chain], b.Amount)
		}
	}
	return total, byChain
}
