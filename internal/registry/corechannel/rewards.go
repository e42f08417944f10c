package corechannel

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/goaleph/goaleph/internal/balances"
)

// Rewards are computed from a corechannel aggregate (the registry state
// with its scores) and the day, exactly: rationals all the way, rounded
// down to base units once per address. Nothing here reads a clock.

// Distribution is one day's rewards.
type Distribution struct {
	// Rewards maps each address to its reward in base units.
	Rewards map[string]*big.Int
	// Unallocated is what had no eligible recipient (base units).
	Unallocated *big.Int
}

// Total returns the sum of the rewards.
func (d Distribution) Total() *big.Int {
	t := new(big.Int)
	for _, v := range d.Rewards {
		t.Add(t, v)
	}
	return t
}

// Addresses returns the rewarded addresses, sorted.
func (d Distribution) Addresses() []string { return sortedKeys(d.Rewards) }

// ledger accumulates exact rewards per address.
type ledger struct {
	r           map[string]*big.Rat
	unallocated *big.Rat
}

func newLedger() *ledger { return &ledger{r: map[string]*big.Rat{}, unallocated: new(big.Rat)} }

func (l *ledger) pay(addr string, v *big.Rat) {
	if v.Sign() == 0 {
		return
	}
	if l.r[addr] == nil {
		l.r[addr] = new(big.Rat)
	}
	l.r[addr].Add(l.r[addr], v)
}

func (l *ledger) withhold(v *big.Rat) { l.unallocated.Add(l.unallocated, v) }

var unit = new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(balances.Decimals), nil))

// baseUnits rounds whole tokens down to base units.
func baseUnits(v *big.Rat) *big.Int {
	x := new(big.Rat).Mul(v, unit)
	return new(big.Int).Quo(x.Num(), x.Denom())
}

// done rounds every reward down to base units, dropping those below dust
// (whole tokens; nil for none).
func (l *ledger) done(dust *big.Rat) Distribution {
	d := Distribution{Rewards: map[string]*big.Int{}, Unallocated: baseUnits(l.unallocated)}
	for a, v := range l.r {
		if dust != nil && v.Cmp(dust) < 0 {
			continue
		}
		if u := baseUnits(v); u.Sign() > 0 {
			d.Rewards[a] = u
		}
	}
	return d
}

func rat(a, b int64) *big.Rat { return big.NewRat(a, b) }

func mul(vs ...*big.Rat) *big.Rat {
	out := big.NewRat(1, 1)
	for _, v := range vs {
		out.Mul(out, v)
	}
	return out
}

func add(a, b *big.Rat) *big.Rat { return new(big.Rat).Add(a, b) }
func sub(a, b *big.Rat) *big.Rat { return new(big.Rat).Sub(a, b) }
func quo(a, b *big.Rat) *big.Rat { return new(big.Rat).Quo(a, b) }

// Mult is the score multiplier of rewards (spec §2.4): 0 below 0.2, 1
// from 0.8, linear between.
func Mult(s *big.Rat) *big.Rat {
	switch {
	case s.Cmp(rat(2, 10)) < 0:
		return new(big.Rat)
	case s.Cmp(rat(8, 10)) >= 0:
		return rat(1, 1)
	}
	return quo(sub(s, rat(2, 10)), rat(6, 10))
}

// number reads an aggregate number exactly (0 when it is not one).
func number(n interface{ String() string }) *big.Rat {
	r, ok := new(big.Rat).SetString(n.String())
	if !ok {
		return new(big.Rat)
	}
	return r
}

// rewardAddress is where a node's rewards go: its reward address when it
// is an address, else its owner.
func rewardAddress(reward, owner string) string {
	if common.IsHexAddress(reward) {
		return Address(reward)
	}
	return owner
}

// log10 returns log10(n) for n ≥ 1: exact for powers of ten, else rounded
// down to 40 decimals from a fixed-precision series, so that every node
// gets the same digits.
func log10(n int) *big.Rat {
	k, m := 0, n
	for m%10 == 0 {
		m /= 10
		k++
	}
	if m == 1 {
		return rat(int64(k), 1)
	}
	const prec = 256
	ln := func(x int) *big.Float {
		// ln x = 2·atanh((x−1)/(x+1)), with x reduced below 2 by halving.
		f := new(big.Float).SetPrec(prec).SetInt64(int64(x))
		halvings := 0
		two := new(big.Float).SetPrec(prec).SetInt64(2)
		for f.Cmp(two) > 0 {
			f.Quo(f, two)
			halvings++
		}
		one := new(big.Float).SetPrec(prec).SetInt64(1)
		y := new(big.Float).SetPrec(prec).Quo(new(big.Float).SetPrec(prec).Sub(f, one), new(big.Float).SetPrec(prec).Add(f, one))
		y2 := new(big.Float).SetPrec(prec).Mul(y, y)
		sum := new(big.Float).SetPrec(prec)
		term := new(big.Float).SetPrec(prec).Set(y)
		for i := int64(1); i < 400; i += 2 {
			sum.Add(sum, new(big.Float).SetPrec(prec).Quo(term, new(big.Float).SetPrec(prec).SetInt64(i)))
			term.Mul(term, y2)
		}
		sum.Mul(sum, two)
		ln2 := new(big.Float).SetPrec(prec)
		if halvings > 0 {
			// ln 2 by the same series at x = 2.
			y := new(big.Float).SetPrec(prec).Quo(one, new(big.Float).SetPrec(prec).SetInt64(3))
			y2 := new(big.Float).SetPrec(prec).Mul(y, y)
			term := new(big.Float).SetPrec(prec).Set(y)
			for i := int64(1); i < 400; i += 2 {
				ln2.Add(ln2, new(big.Float).SetPrec(prec).Quo(term, new(big.Float).SetPrec(prec).SetInt64(i)))
				term.Mul(term, y2)
			}
			ln2.Mul(ln2, two)
			ln2.Mul(ln2, new(big.Float).SetPrec(prec).SetInt64(int64(halvings)))
		}
		return sum.Add(sum, ln2)
	}
	l := new(big.Float).SetPrec(prec).Quo(ln(m), ln(10))
	r, _ := l.Rat(nil)
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(40), nil)
	num := new(big.Int).Quo(new(big.Int).Mul(r.Num(), scale), r.Denom())
	return add(rat(int64(k), 1), new(big.Rat).SetFrac(num, scale))
}

// LegacySettings are the daily pools of the staking formula (spec §3.1).
type LegacySettings struct {
	OperatorsDaily, StakersDailyBase *big.Rat // 15,000 and 15,000 tokens
	CRNBase, CRNVariable             *big.Rat // 250 and 1,250 tokens a month
	MaxPaidCRNs                      int      // 5
}

// DefaultLegacySettings are the reference's last values.
func DefaultLegacySettings() LegacySettings {
	return LegacySettings{OperatorsDaily: rat(15000, 1), StakersDailyBase: rat(15000, 1),
		CRNBase: rat(250, 1), CRNVariable: rat(1250, 1), MaxPaidCRNs: 5}
}

// Legacy computes one day of the legacy staking rewards (spec §3.1) over
// the state a: operators share the operator pool equally, scaled by their
// linkage and score; stakers share the staker pool pro-rata to stake,
// scaled by their node's modifier; linked CRNs earn their monthly rate.
func Legacy(a Aggregate, s LegacySettings) Distribution {
	l := newLedger()
	crns := map[string]*ResourceJSON{}
	for i := range a.ResourceNodes {
		crns[a.ResourceNodes[i].Hash] = &a.ResourceNodes[i]
	}
	var active []*NodeJSON
	totalStaked := new(big.Rat)
	for i := range a.Nodes {
		if n := &a.Nodes[i]; n.Status == "active" {
			active = append(active, n)
			for _, v := range n.Stakers {
				totalStaked.Add(totalStaked, number(v))
			}
		}
	}
	// CRNs earn under every CCN's CRN set, in link order, while the
	// running count of paid ones stays within the cap.
	for i := range a.Nodes {
		paid := 0
		for _, h := range a.Nodes[i].ResourceNodes {
			r := crns[h]
			if r == nil || r.Status != "linked" {
				continue
			}
			m := Mult(number(r.Score))
			if m.Sign() == 0 {
				continue
			}
			if paid++; paid > s.MaxPaidCRNs {
				break
			}
			monthly := add(s.CRNBase, mul(s.CRNVariable, number(r.Decentralization)))
			l.pay(rewardAddress(r.Reward, r.Owner), mul(quo(monthly, rat(365, 12)), m))
		}
	}
	if len(active) == 0 {
		return l.done(nil)
	}
	base := quo(s.OperatorsDaily, rat(int64(len(active)), 1))
	stakersDay := quo(mul(s.StakersDailyBase, add(rat(1, 1), log10(len(active)))), rat(3, 1))
	for _, n := range active {
		paid := 0
		for _, h := range n.ResourceNodes {
			if r := crns[h]; r != nil && r.Status == "linked" && Mult(number(r.Score)).Sign() > 0 && paid < s.MaxPaidCRNs {
				paid++
			}
		}
		linkage := add(rat(7, 10), rat(int64(paid), 10))
		if linkage.Cmp(rat(1, 1)) > 0 {
			linkage = rat(1, 1)
		}
		modifier := mul(linkage, Mult(number(n.Score)))
		l.pay(rewardAddress(n.Reward, n.Owner), mul(base, modifier))
		if totalStaked.Sign() == 0 {
			continue
		}
		for _, a := range sortedKeys(n.Stakers) {
			l.pay(a, mul(stakersDay, quo(number(n.Stakers[a]), totalStaked), modifier))
		}
	}
	return l.done(nil)
}

// Expense is one aleph_credit_expense post's worth: credits consumed at a
// price in tokens per credit.
type Expense struct {
	Storage bool     // type_storage, else type_execution
	Price   *big.Rat // credit_price_aleph
	Credits []Credit
}

// Credit is one credit line of an expense.
type Credit struct {
	NodeID string // the CRN that ran it (execution)
	Amount *big.Rat
}

// CreditSettings are the v2 shares and the wage subsidy (spec §3.2).
type CreditSettings struct {
	// ExecutionCRN, ExecutionCCN, ExecutionStakers: 60, 15, 20 %.
	ExecutionCRN, ExecutionCCN, ExecutionStakers *big.Rat
	// StorageCCN, StorageStakers: 75, 20 %.
	StorageCCN, StorageStakers *big.Rat
	// WageMonthly is the subsidy's starting monthly rate (900,000 tokens),
	// decaying linearly to 0 over WageMonths months of 30 days.
	WageMonthly *big.Rat
	WageMonths  int64
	// SlashAfter (seconds): a CRN inactive this long at the day's close
	// loses its subsidy share.
	SlashAfter float64
	// Dust (tokens): smaller totals are dropped.
	Dust *big.Rat
}

// DefaultCreditSettings are the reference's values.
func DefaultCreditSettings() CreditSettings {
	return CreditSettings{ExecutionCRN: rat(60, 100), ExecutionCCN: rat(15, 100), ExecutionStakers: rat(20, 100),
		StorageCCN: rat(75, 100), StorageStakers: rat(20, 100), WageMonthly: rat(900_000, 1), WageMonths: 6,
		SlashAfter: 3 * 86400, Dust: rat(1, 100)}
}

// Wage is the subsidy of day d (0 = the first day of v2): the integral of
// W(t) = monthly·(1 − t/months) over the day, t in 30-day months.
func Wage(s CreditSettings, d int64) *big.Rat {
	if d < 0 || d >= s.WageMonths*30 {
		return new(big.Rat)
	}
	months := rat(s.WageMonths, 1)
	cum := func(t *big.Rat) *big.Rat { // monthly·(t − t²/(2·months))
		return mul(s.WageMonthly, sub(t, quo(mul(t, t), mul(rat(2, 1), months))))
	}
	return sub(cum(rat(d+1, 30)), cum(rat(d, 30)))
}

// Credits computes one day of the credit-based distribution (spec §3.2):
// the day's expenses split between CRNs, CCNs and stakers, and the wage
// subsidy split in thirds. day is the day's index from the start of v2;
// close the day's end (the position inactivity is measured against).
func Credits(a Aggregate, s CreditSettings, day int64, close float64, expenses []Expense) Distribution {
	l := newLedger()
	ccns := map[string]*NodeJSON{}
	for i := range a.Nodes {
		ccns[a.Nodes[i].Hash] = &a.Nodes[i]
	}
	crns := map[string]*ResourceJSON{}
	for i := range a.ResourceNodes {
		crns[a.ResourceNodes[i].Hash] = &a.ResourceNodes[i]
	}
	// stakers pays v pro-rata to the stakes on n, withholding it when n
	// has none.
	stakers := func(n *NodeJSON, v *big.Rat) {
		total := new(big.Rat)
		for _, s := range n.Stakers {
			total.Add(total, number(s))
		}
		if total.Sign() == 0 {
			l.withhold(v)
			return
		}
		for _, a := range sortedKeys(n.Stakers) {
			l.pay(a, mul(v, quo(number(n.Stakers[a]), total)))
		}
	}
	// weighted: active CCNs with mult > 0, weighted by mult.
	var weighted []*NodeJSON
	weights := new(big.Rat)
	for i := range a.Nodes {
		n := &a.Nodes[i]
		if m := Mult(number(n.Score)); n.Status == "active" && m.Sign() > 0 {
			weighted = append(weighted, n)
			weights.Add(weights, m)
		}
	}
	byWeight := func(v *big.Rat, each func(n *NodeJSON, v *big.Rat)) {
		if weights.Sign() == 0 {
			l.withhold(v)
			return
		}
		for _, n := range weighted {
			each(n, mul(v, quo(Mult(number(n.Score)), weights)))
		}
	}
	payCCN := func(n *NodeJSON, v *big.Rat) { l.pay(rewardAddress(n.Reward, n.Owner), v) }
	for _, e := range expenses {
		for _, c := range e.Credits {
			v := mul(c.Amount, e.Price)
			if e.Storage {
				byWeight(mul(v, s.StorageCCN), payCCN)
				byWeight(mul(v, s.StorageStakers), stakers)
				continue
			}
			crnShare, ccnShare, stakersShare := mul(v, s.ExecutionCRN), mul(v, s.ExecutionCCN), mul(v, s.ExecutionStakers)
			r := crns[c.NodeID]
			if r == nil || r.Status != "linked" {
				l.withhold(add(add(crnShare, ccnShare), stakersShare))
				continue
			}
			l.pay(rewardAddress(r.Reward, r.Owner), crnShare)
			p := ccns[deref(r.Parent)]
			if p == nil || p.Status != "active" {
				l.withhold(add(ccnShare, stakersShare))
				continue
			}
			payCCN(p, ccnShare)
			stakers(p, stakersShare)
		}
	}
	third := quo(Wage(s, day), rat(3, 1))
	if third.Sign() > 0 {
		byWeight(third, payCCN)
		// CRNs: linked, mult > 0, weighted by mult; a slashed CRN's share
		// is withheld.
		crnWeights := new(big.Rat)
		var paid []*ResourceJSON
		for i := range a.ResourceNodes {
			r := &a.ResourceNodes[i]
			if m := Mult(number(r.Score)); r.Status == "linked" && m.Sign() > 0 {
				paid = append(paid, r)
				crnWeights.Add(crnWeights, m)
			}
		}
		if crnWeights.Sign() == 0 {
			l.withhold(third)
		}
		for _, r := range paid {
			v := mul(third, quo(Mult(number(r.Score)), crnWeights))
			if r.InactiveSince != nil && close-toFloat(*r.InactiveSince) > s.SlashAfter {
				l.withhold(v)
				continue
			}
			l.pay(rewardAddress(r.Reward, r.Owner), v)
		}
		// Stakers: pro-rata to their stake over all active CCNs, not
		// weighted by score.
		total := new(big.Rat)
		for _, n := range a.Nodes {
			if n.Status == "active" {
				for _, v := range n.Stakers {
					total.Add(total, number(v))
				}
			}
		}
		if total.Sign() == 0 {
			l.withhold(third)
		}
		for _, n := range a.Nodes {
			if n.Status != "active" || total.Sign() == 0 {
				continue
			}
			for _, st := range sortedKeys(n.Stakers) {
				l.pay(st, mul(third, quo(number(n.Stakers[st]), total)))
			}
		}
	}
	return l.done(s.Dust)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func toFloat(n interface{ String() string }) float64 {
	f, _ := number(n).Float64()
	return f
}
