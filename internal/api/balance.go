package api

import (
	"math/big"
	"net/http"
	"slices"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/internal/balances"
	"github.com/goaleph/goaleph/internal/store"
)

// addressBalance is GET /api/v0/addresses/{address}/balance?chain: the
// reference's {address, balance, details, locked_amount, credit_balance,
// credit_balance_details}. balance sums the address's rows (matched
// case-insensitively) on every chain, or on chain only, leaving out dApp
// rows; details holds the sum per chain ({} with chain). An unknown
// address has balance 0, not 404.
//
// The reference writes these amounts as floats. They are written here as
// JSON numbers too, but with every digit of the exact 18-decimal amount
// ("1234.500000000000000001"): a float parser reads what the reference
// sends, an exact parser (client.Balance) reads the exact amount. Costs and
// credits do not exist yet, so locked_amount is 0.0 and credit_balance 0.
func (s *Server) addressBalance(w http.ResponseWriter, r *http.Request) {
	address := r.PathValue("address")
	p := newParams(r)
	onChain, _ := p.get("chain")
	if _, ok := chain.Lookup(onChain); onChain != "" && !ok {
		p.fail("chain: %q is not a known chain", onChain)
	}
	var rows []store.Balance
	err := p.err
	if err == nil {
		rows, err = s.cfg.Store.Balances(r.Context(), address)
	}
	switch {
	case p.err != nil:
		s.failQuery(w, r, p.err)
	case err != nil:
		s.fail(w, r, http.StatusInternalServerError, err)
	default:
		total, byChain := balances.Totals(rows, onChain)
		out := balanceJSON(address, total, byChain)
		out.send(w, http.StatusOK)
	}
}

// balanceJSON writes the balance document.
func balanceJSON(address string, total *big.Int, byChain map[string]*big.Int) *jsonw {
	out := new(jsonw)
	out.WriteByte('{')
	out.key("address")
	out.str(address)
	out.key("balance")
	out.WriteString(balances.FormatAmount(total))
	out.key("details")
	out.WriteByte('{')
	names := make([]string, 0, len(byChain))
	for c := range byChain {
		names = append(names, c)
	}
	slices.Sort(names)
	for _, c := range names {
		out.key(c)
		out.WriteString(balances.FormatAmount(byChain[c]))
	}
	out.WriteString(`},"locked_amount":0.0,"credit_balance":0,"credit_balance_details":null}`)
	return out
}
