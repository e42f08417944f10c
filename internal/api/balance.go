package api

import (
	"math/big"
	"net/http"
	"slices"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/internal/balances"
	"github.com/goaleph/goaleph/internal/economy"
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
// locked_amount is what the address's processed hold-paid messages hold.
// credit_balance is the address's credit balance in whole credits, read
// from the ledger at the log clock (credits.go); with
// include_credit_details=true, credit_balance_details lists what remains
// of its lots by expiry, else it is null.
func (s *Server) addressBalance(w http.ResponseWriter, r *http.Request) {
	address := r.PathValue("address")
	p := newParams(r)
	onChain, _ := p.get("chain")
	if _, ok := chain.Lookup(onChain); onChain != "" && !ok {
		p.fail("chain: %q is not a known chain", onChain)
	}
	withDetails := p.bool("include_credit_details", false)
	var rows []store.Balance
	var costs []store.Cost
	var credits *big.Int
	var lots []economy.CreditLot
	var clock float64
	err := p.err
	if err == nil {
		rows, err = s.cfg.Store.Balances(r.Context(), address)
	}
	if err == nil {
		costs, err = s.cfg.Store.Costs(r.Context(), address)
	}
	if err == nil {
		clock, err = s.cfg.Store.LogClock(r.Context())
	}
	if err == nil {
		credits, lots, _, err = s.creditBalance(r.Context(), address, clock)
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
		var details *jsonw
		if withDetails {
			details = creditDetails(lots)
		}
		out := balanceJSON(address, total, byChain, locked, credits, details)
		out.send(w, http.StatusOK)
	}
}

// balanceJSON writes the balance document; credits are in base units,
// details nil writes null.
func balanceJSON(address string, total *big.Int, byChain map[string]*big.Int, locked, credits *big.Int, details *jsonw) *jsonw {
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
	out.WriteString(`,"credit_balance":`)
	out.WriteString(economy.WholeCredits(credits).String())
	out.WriteString(`,"credit_balance_details":`)
	if details == nil {
		out.WriteString("null")
	} else {
		out.Write(details.Bytes())
	}
	out.WriteByte('}')
	return out
}
