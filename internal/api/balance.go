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
// sends, an exact parser (client.Balance) reads the exact amount.
// locked_amount is what the address's processed hold-paid messages hold;
// credits do not exist yet, so credit_balance is 0.
func (s *Server) addressBalance(w http.ResponseWriter, r *http.Request) {
	address := r.PathValue("address")
	p := newParams(r)
	onChain, _ := p.get("chain")
	if _, ok := chain.Lookup(onChain); onChain != "" && !ok {
		p.fail("chain: %q is not a known chain", onChain)
	}
	var rows []store.Balance
	var costs []store.Cost
	err := p.err
	if err == nil {
		rows, err = s.cfg.Store.Balances(r.Context(), address)
	}
	if err == nil {
		costs, err = s.cfg.Store.Costs(r.Context(), address)
	}
	switch {
	case p.err != nil:
		s.failQuery(w, r, p.err)
	case err != nil:
		s.fail(w, r, http.StatusInternalServerError, err)
	default:
		total, byChain := balances.Totals(rows, onChain)
		locked := new(big.Int)
		for _, c := range costs {
			if c.PaymentType == "hold" {
				locked.Add(locked, c.Hold)
			}
		}
		out := balanceJSON(address, total, byChain, locked)
		out.send(w, http.StatusOK)
	}
}

// balanceJSON writes the balance document.
func balanceJSON(address string, total *big.Int, byChain map[string]*big.Int, locked *big.Int) *jsonw {
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
	out.WriteString(`},"locked_amount":`)
	out.WriteString(balances.FormatAmount(locked))
	out.WriteString(`,"credit_balance":0,"credit_balance_details":null}`)
	return out
}
