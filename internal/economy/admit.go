package economy

import (
	"encoding/json"
	"math/big"

	"github.com/goaleph/goaleph/internal/balances"
	"github.com/goaleph/goaleph/message"
)

// Cut-off dates of the reference (unix seconds, compared with the
// message's time).
const (
	// DefaultFreeCutoff: STOREs and on-demand programs dated before it are
	// free (2025-04-04; the reference also accepts those confirmed before
	// ETH height 22,196,000).
	DefaultFreeCutoff = 1743775079
	// DefaultHoldCutoff: from 2026-03-11, new instances and persistent
	// programs must be paid with credits.
	DefaultHoldCutoff = 1773187200
	// DefaultCreditOnlyCutoff: from 2027-01-01, every paid message must be
	// paid with credits and the 25 MiB free STOREs end.
	DefaultCreditOnlyCutoff = 1798761600
)

// CreditRunway is how many seconds of credit costs an address must hold
// (one day).
const CreditRunway = 86400

// Rules are the admission rules: the cut-offs, in unix seconds.
type Rules struct {
	FreeCutoff, HoldCutoff, CreditOnlyCutoff int64
}

// DefaultRules are the reference's.
var DefaultRules = Rules{FreeCutoff: DefaultFreeCutoff, HoldCutoff: DefaultHoldCutoff, CreditOnlyCutoff: DefaultCreditOnlyCutoff}

// ApplyFree marks c free when the rules make the message free: a STORE or
// on-demand program dated before the free cut-off, or a hold-paid STORE
// of at most 25 MiB before the credit-only cut-off. size is a STORE's file
// size in bytes.
func (r Rules) ApplyFree(c *Costs, t message.Type, at float64, size int64) {
	onDemandOrStore := t == message.TypeStore || c.Product == ProductProgram
	switch {
	case onDemandOrStore && at < float64(r.FreeCutoff):
		c.Free = true
	case t == message.TypeStore && c.Payment == PaymentHold && size >= 0 && size <= FreeStoreBytes && at < float64(r.CreditOnlyCutoff):
		c.Free = true
	}
}

// CheckPayment refuses a payment type the cut-offs forbid at time at, with
// code INVALID_PAYMENT_METHOD.
func (r Rules) CheckPayment(c *Costs, at float64) error {
	if c.Payment == PaymentCredit {
		return nil
	}
	if at >= float64(r.CreditOnlyCutoff) {
		return message.Errorf(message.CodeInvalidPaymentMethod, "%s payment is not accepted since the credit-only cut-off: pay with credit", c.Payment)
	}
	longRunning := c.Product != ProductProgram && c.Product != ProductStorage
	if longRunning && at >= float64(r.HoldCutoff) {
		return message.Errorf(message.CodeInvalidPaymentMethod, "%s payment is not accepted for a new %s since the hold cut-off: pay with credit", c.Payment, c.Product)
	}
	return nil
}

// Funds are what an address has and what its earlier messages hold or
// spend, for one admission.
type Funds struct {
	// Balance is the token balance (hold), in base units.
	Balance *big.Int
	// Held is what the address's earlier hold-paid messages hold.
	Held *big.Int
	// Credits is the credit balance; CreditPerSecond what the earlier
	// credit-paid messages spend per second.
	Credits, CreditPerSecond *big.Int
}

// Admit checks that the funds cover the new message's costs c: for hold,
// held + cost ≤ balance (BALANCE_INSUFFICIENT); for credit, one day of
// credit costs ≤ the credit balance (CREDIT_INSUFFICIENT); superfluid is
// not checked here (the compute node checks the stream). The error's
// details are the reference's {required_balance, account_balance}.
func Admit(c *Costs, f Funds) error {
	cost := c.Total()
	switch c.Payment {
	case PaymentHold:
		need := new(big.Int).Add(nz(f.Held), cost)
		if need.Cmp(nz(f.Balance)) > 0 {
			return insufficient(message.CodeBalanceInsufficient, need, nz(f.Balance),
				"balance %s ALEPH does not cover %s ALEPH held (%s for this %s, %s by earlier messages)",
				balances.FormatAmount(nz(f.Balance)), balances.FormatAmount(need), balances.FormatAmount(cost), c.Product, balances.FormatAmount(nz(f.Held)))
		}
	case PaymentCredit:
		perSecond := new(big.Int).Add(nz(f.CreditPerSecond), cost)
		need := perSecond.Mul(perSecond, big.NewInt(CreditRunway))
		if need.Cmp(nz(f.Credits)) > 0 {
			return insufficient(message.CodeCreditInsufficient, need, nz(f.Credits),
				"credit balance %s does not cover one day (%s credits) of this %s and the earlier credit-paid messages",
				balances.FormatAmount(nz(f.Credits)), balances.FormatAmount(need), c.Product)
		}
	}
	return nil
}

func nz(v *big.Int) *big.Int {
	if v == nil {
		return new(big.Int)
	}
	return v
}

func insufficient(code message.Code, need, have *big.Int, format string, args ...any) error {
	e := message.Errorf(code, format, args...)
	e.Details = map[string]json.Number{
		"required_balance": json.Number(balances.FormatAmount(need)),
		"account_balance":  json.Number(balances.FormatAmount(have)),
	}
	return e
}
