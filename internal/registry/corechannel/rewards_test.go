package corechannel

import (
	"encoding/json"
	"fmt"
	"math/big"
	"testing"
)

// rewardState: alice's CCN n1 (score 0.5) with bob staking 600,000;
// carol's CRNs r1 (score 0.65, decentralization 0.4) and r2 (score 0.1)
// linked to it.
func rewardState(t *testing.T) Aggregate {
	t.Helper()
	f := &fixture{}
	evs := append(linked(f),
		f.op("r2", carol, "create-resource-node", "", map[string]any{"type": "compute"}),
		f.op("l2", alice, "link", "r2", nil),
		f.scores(scorer, []entry{{"n1", 0.5, 0.5, 0.9}}, []entry{{"r1", 0.65, 0.7, 0.4}, {"r2", 0.1, 0.1, 0.9}}))
	st := Replay(DefaultSettings(), evs, nil)
	var a Aggregate
	if err := json.Unmarshal(st.JSON(), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// exact converts num/den whole tokens to base units, rounded down.
func exact(num, den int64) *big.Int {
	v := new(big.Int).Mul(big.NewInt(num), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))
	return v.Quo(v, big.NewInt(den))
}

func expect(t *testing.T, d Distribution, want map[string]*big.Int) {
	t.Helper()
	for a, w := range want {
		if got := d.Rewards[a]; got == nil || got.Cmp(w) != 0 {
			t.Errorf("%s: got %v, want %v", a, got, w)
		}
	}
	if len(d.Rewards) != len(want) {
		t.Errorf("rewarded %v, want %d addresses", d.Addresses(), len(want))
	}
}

func TestLegacyByHand(t *testing.T) {
	d := Legacy(rewardState(t), DefaultLegacySettings())
	// N = 1 active CCN: base = 15000/1, S_day = 15000·(1 + log10 1)/3 =
	// 5000. r1 pays (mult(0.65) = 0.45/0.6 = 3/4), r2 does not
	// (mult(0.1) = 0): linkage = 0.7 + 0.1 = 0.8; mult(0.5) = 1/2;
	// modifier = 0.4.
	// alice: 15000 · 0.4 = 6000.
	// bob: 5000 · 600000/600000 · 0.4 = 2000.
	// carol: (250 + 1250·0.4) / (365/12) · 3/4 = 750·12/365·3/4 = 1350/73.
	expect(t, d, map[string]*big.Int{alice: exact(6000, 1), bob: exact(2000, 1), carol: exact(1350, 73)})
}

func TestLegacyTenNodes(t *testing.T) {
	// Ten active CCNs, each with one staker of 500,000 and a score of
	// 0.9 (mult 1), no CRN (linkage 0.7): base = 1500, S_day =
	// 15000·(1 + 1)/3 = 10000; each operator earns 1500·0.7 = 1050, each
	// staker 10000·(500000/5000000)·0.7 = 700.
	f := &fixture{}
	var evs []Event
	var entries []entry
	want := map[string]*big.Int{}
	for i := 0; i < 10; i++ {
		owner, staker, h := addr(100+i), addr(200+i), fmt.Sprintf("n%d", i)
		evs = append(evs, f.bal(owner, 200_000), f.op(h, owner, "create-node", "", nil),
			f.bal(staker, 500_000), f.op("s"+h, staker, "stake", h, nil))
		entries = append(entries, entry{h, 0.9, 0.9, 0.5})
		want[owner], want[staker] = exact(1050, 1), exact(700, 1)
	}
	evs = append(evs, f.scores(scorer, entries, nil))
	var a Aggregate
	if err := json.Unmarshal(Replay(DefaultSettings(), evs, nil).JSON(), &a); err != nil {
		t.Fatal(err)
	}
	expect(t, Legacy(a, DefaultLegacySettings()), want)
}

func TestLog10(t *testing.T) {
	// log10 2 = 0.30102999566398119521373889472449302676818988146211...
	got := log10(200).FloatString(40)
	if want := "2.3010299956639811952137388947244930267681"; got != want {
		t.Fatalf("log10(200) = %s, want %s", got, want)
	}
}

func TestCreditsByHand(t *testing.T) {
	half := big.NewRat(1, 2)
	expenses := []Expense{
		{Price: half, Credits: []Credit{{NodeID: "r1", Amount: big.NewRat(100, 1)}, // 50 tokens
			{NodeID: "r2", Amount: big.NewRat(10, 1)},  // 5 tokens
			{NodeID: "zz", Amount: big.NewRat(4, 1)}}}, // 2 tokens, unknown CRN
		{Storage: true, Price: half, Credits: []Credit{{Amount: big.NewRat(20, 1)}}}, // 10 tokens
	}
	d := Credits(rewardState(t), DefaultCreditSettings(), 0, 86400, expenses)
	// Wage of day 0: 900000·((1/30 − (1/30)²/12) − 0) = 30000 − 250/3 =
	// 89750/3; a third is 89750/9.
	// alice (n1 operator): 15% of 50 and of 5 = 7.5 + 0.75; 75% of 10 =
	// 7.5; the CCN third.
	// bob (its staker): 20% of 50 and of 5 = 10 + 1; 20% of 10 = 2; the
	// stakers' third.
	// carol (r1, r2): 60% of 50 and of 5 = 30 + 3; the CRN third (r2 has
	// mult 0, so r1 takes it whole).
	third := func(plus, den int64) *big.Int { // plus/den + 89750/9
		return exact(plus*9+89750*den, 9*den)
	}
	expect(t, d, map[string]*big.Int{alice: third(63, 4), bob: third(13, 1), carol: third(33, 1)})
	// The unknown CRN's 95 % (1.9 tokens) is unallocated; the 5 % dev fund
	// is not distributed at all.
	if want := exact(19, 10); d.Unallocated.Cmp(want) != 0 {
		t.Errorf("unallocated = %v, want %v", d.Unallocated, want)
	}
	// After six months the subsidy has ended; its total is 2.7 M.
	total := new(big.Rat)
	for day := int64(0); day < 200; day++ {
		total.Add(total, Wage(DefaultCreditSettings(), day))
	}
	if total.Cmp(big.NewRat(2_700_000, 1)) != 0 {
		t.Errorf("wage total = %s, want 2700000", total.FloatString(18))
	}
}

func TestCreditsSlashing(t *testing.T) {
	a := rewardState(t)
	since := json.Number("0")
	a.ResourceNodes[0].InactiveSince = &since
	// Inactive since 0: at the close of day 3 (4·86400) that is more
	// than 3 days, so r1's subsidy third is withheld.
	d := Credits(a, DefaultCreditSettings(), 3, 4*86400, nil)
	if _, paid := d.Rewards[carol]; paid {
		t.Fatalf("a slashed CRN was paid %v", d.Rewards[carol])
	}
	if d.Unallocated.Sign() == 0 {
		t.Fatal("the slashed share is not reported as unallocated")
	}
	d = Credits(a, DefaultCreditSettings(), 2, 3*86400, nil)
	if _, paid := d.Rewards[carol]; !paid {
		t.Fatal("a CRN inactive for exactly 3 days was slashed")
	}
}

func TestReport(t *testing.T) {
	d := Legacy(rewardState(t), DefaultLegacySettings())
	r := NewReport("legacy", "2026-12-07", 1796601600, 1796688000, d)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for a, v := range d.Rewards {
		if got := units(back.Rewards[a]); got.Cmp(v) != 0 {
			t.Errorf("%s: report says %v, want %v", a, got, v)
		}
	}
	if got := units(back.Total); got.Cmp(d.Total()) != 0 {
		t.Errorf("total %v, want %v", got, d.Total())
	}
}
