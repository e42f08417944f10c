package economy

import (
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

const after = CreditPrecisionCutoff + 1000 // a time after the precision cut-off

func nCredits(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), creditUnit) }

func TestParseCreditPost(t *testing.T) {
	dist := func(entry string) string {
		return `{"distribution":{"token":"ALEPH","chain":"ETH","credits":[` + entry + `]}}`
	}
	good := `{"address":"0xa","amount":1000,"price":"0.5","tx_hash":"0xt","provider":"p","expiration":1800000000000}`
	for _, c := range []struct {
		name, typ, content string
		want               string // "address amount expiration[@resource]" of each entry, or the error's text
	}{
		{"distribution", PostCreditDistribution, dist(good + `,{"address":"0xb","amount":2,"price":3,"tx_hash":"","provider":"p","bonus_amount":{"x":1}}`),
			"0xa 1000 1800000000000|0xb 2 0"},
		{"expense", PostCreditExpense, `{"expense":{"credits":[{"address":"0xa","amount":7,"ref":"h","price":"0.1","count":2,"size":"1.5","time":3600}]}}`, "0xa 7 0@h"},
		{"expense of an execution", PostCreditExpense, `{"expense":{"credits":[{"address":"0xa","amount":7,"ref":"h","execution_id":"x"},{"address":"0xb","amount":1,"execution_id":""}]}}`, "0xa 7 0@x|0xb 1 0"},
		{"transfer", PostCreditTransfer, `{"transfer":{"credits":[{"address":"0xa","amount":5,"expiration":null},{"address":"0xb","amount":1,"expiration":1}]}}`, "0xa 5 0|0xb 1 1"},
		{"huge amount kept exactly", PostCreditTransfer, `{"transfer":{"credits":[{"address":"0xa","amount":123456789012345678901234567890}]}}`, "0xa 123456789012345678901234567890 0"},
		{"not an object", PostCreditDistribution, `[1]`, "content: not an object"},
		{"no distribution", PostCreditDistribution, `{"credits":[]}`, "distribution: not an object"},
		{"no entries", PostCreditDistribution, dist(``), "distribution.credits: empty"},
		{"credits not a list", PostCreditExpense, `{"expense":{"credits":{}}}`, "expense.credits: not a list"},
		{"missing token", PostCreditDistribution, `{"distribution":{"chain":"ETH","credits":[` + good + `]}}`, "distribution.token: missing"},
		{"float amount", PostCreditDistribution, dist(strings.Replace(good, "1000", "1000.5", 1)), "amount: 1000.5 is not an integer"},
		{"integral float amount", PostCreditDistribution, dist(strings.Replace(good, "1000", "1e3", 1)), "amount: 1e3 is not an integer"},
		{"string amount", PostCreditDistribution, dist(strings.Replace(good, "1000", `"1000"`, 1)), `is not an integer`},
		{"zero amount", PostCreditExpense, `{"expense":{"credits":[{"address":"0xa","amount":0}]}}`, "amount: 0 is not positive"},
		{"negative amount", PostCreditExpense, `{"expense":{"credits":[{"address":"0xa","amount":-3}]}}`, "amount: -3 is not positive"},
		{"bool amount", PostCreditExpense, `{"expense":{"credits":[{"address":"0xa","amount":true}]}}`, "is not an integer"},
		{"empty address", PostCreditExpense, `{"expense":{"credits":[{"address":"  ","amount":1}]}}`, "address: empty"},
		{"address not a string", PostCreditExpense, `{"expense":{"credits":[{"address":1,"amount":1}]}}`, "address: not a string"},
		{"bad price", PostCreditDistribution, dist(strings.Replace(good, `"0.5"`, `"cheap"`, 1)), "price: \"cheap\" is not a decimal"},
		{"missing provider", PostCreditDistribution, dist(strings.Replace(good, `,"provider":"p"`, "", 1)), "provider: missing"},
		{"bad expiration", PostCreditDistribution, dist(strings.Replace(good, "1800000000000", `"soon"`, 1)), "expiration: \"soon\" is not a time"},
		{"negative count", PostCreditExpense, `{"expense":{"credits":[{"address":"0xa","amount":1,"count":-1}]}}`, "count: -1 is not a count"},
		{"self-transfer", PostCreditTransfer, `{"transfer":{"credits":[{"address":"` + CreditSender + `","amount":1}]}}`, "self-transfer"},
		{"duplicate recipient", PostCreditTransfer, `{"transfer":{"credits":[{"address":"0xa","amount":1},{"address":"0xa","amount":2}]}}`, "0xa is a recipient twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			es, err := ParseCreditPost(c.typ, json.RawMessage(c.content), CreditSender, "ref", after)
			if err != nil {
				if message.CodeOf(err) != message.CodeInvalidFormat {
					t.Fatalf("code %v, want INVALID_FORMAT: %v", message.CodeOf(err), err)
				}
				if !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %q does not say %q", err, c.want)
				}
				return
			}
			var got []string
			for i, e := range es {
				if e.Ref != "ref" || e.Index != i || e.Time != after {
					t.Fatalf("entry %d positioned %s/%d@%v", i, e.Ref, e.Index, e.Time)
				}
				whole := new(big.Int)
				if _, r := whole.QuoRem(e.Amount, creditUnit, new(big.Int)); r.Sign() != 0 {
					t.Fatalf("amount %s is not whole credits", e.Amount)
				}
				g := e.Address + " " + whole.String() + " " + big.NewInt(e.Expiration).String()
				if r := e.Resource(); r != "" && e.Kind == store.CreditExpense {
					g += "@" + r
				}
				got = append(got, g)
			}
			if g := strings.Join(got, "|"); g != c.want {
				t.Fatalf("entries %q, want %q", g, c.want)
			}
		})
	}
}

// TestCreditPrecision: amounts of posts before 2026-02-02 are in the old
// unit (100 credits per USD) and count 10,000 times more.
func TestCreditPrecision(t *testing.T) {
	raw := json.RawMessage(`{"expense":{"credits":[{"address":"0xa","amount":3}]}}`)
	for _, c := range []struct {
		at   float64
		want int64
	}{{CreditPrecisionCutoff - 1, 30000}, {CreditPrecisionCutoff, 3}} {
		es, err := ParseCreditPost(PostCreditExpense, raw, CreditSender, "r", c.at)
		if err != nil {
			t.Fatal(err)
		}
		if es[0].Amount.Cmp(nCredits(c.want)) != 0 {
			t.Errorf("at %v: %s, want %d credits", c.at, es[0].Amount, c.want)
		}
	}
}

func grant(ref string, at float64, n int64, expMs int64) store.CreditEntry {
	return store.CreditEntry{Ref: ref, Time: at, Kind: store.CreditGrant, Amount: nCredits(n), Expiration: expMs}
}

func expense(ref string, at float64, n int64) store.CreditEntry {
	return store.CreditEntry{Ref: ref, Time: at, Kind: store.CreditExpense, Amount: nCredits(n)}
}

func TestCreditBalance(t *testing.T) {
	ledger := []store.CreditEntry{
		grant("g1", 100, 10, 500_000), // expires at 500 s
		grant("g2", 200, 20, 0),
		expense("e1", 300, 15), // 10 from g1, 5 from g2
		grant("g3", 400, 5, 450_000),
		expense("e2", 460, 2), // g3 expired at 450: from g2
		grant("g4", 600, 1, 0),
		expense("e3", 600, 100), // same time as g4: g4 can pay it; the excess is dropped
		grant("g5", 700, 8, 0),
	}
	for _, c := range []struct {
		at   float64
		want int64
		lots string
	}{
		{99, 0, ""},
		{100, 10, "g1"},
		{299, 30, "g1 g2"},
		{300, 15, "g2"},
		{400, 20, "g2 g3"},
		{449.999, 20, "g2 g3"},
		{450, 15, "g2"},
		{460, 13, "g2"},
		{599, 13, "g2"},
		{600, 0, ""},
		{1e10, 8, "g5"},
	} {
		// The fold does not depend on the entries' order.
		shuffled := append([]store.CreditEntry(nil), ledger...)
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		total, lots := CreditBalance(shuffled, c.at)
		var refs []string
		for _, l := range lots {
			refs = append(refs, l.Ref)
		}
		if total.Cmp(nCredits(c.want)) != 0 || strings.Join(refs, " ") != c.lots {
			t.Errorf("at %v: %s (%q), want %d credits (%q)", c.at, WholeCredits(total), refs, c.want, c.lots)
		}
	}
}

// TestCreditBalanceExpiredLotNotSpent: an expense does not consume a lot
// that expired before it, nor one granted after it.
func TestCreditBalanceExpiredLotNotSpent(t *testing.T) {
	ledger := []store.CreditEntry{grant("a", 10, 5, 20_000), expense("x", 30, 5), grant("b", 40, 5, 0)}
	if total, _ := CreditBalance(ledger, 50); total.Cmp(nCredits(5)) != 0 {
		t.Fatalf("balance %s, want 5 credits (the expense found nothing to spend)", WholeCredits(total))
	}
}

// TestCreditHistoryFields: entries keep what the reference's credit history
// shows of each post: a distribution's price, bonus, tx hash, token,
// chain, provider, origin, ref and payment method; an expense's execution,
// ref, node, price, count and size (provider ALEPH, method
// credit_expense); a transfer's sender as origin (credit_transfer).
func TestCreditHistoryFields(t *testing.T) {
	show := func(e store.CreditEntry) string {
		return strings.Join([]string{e.Origin, e.OriginRef, e.Price, e.BonusAmount, e.TxHash, e.Token, e.Chain, e.Provider,
			e.PaymentMethod, e.ExpenseCount, e.ExpenseSizeMiB}, "|")
	}
	for _, c := range []struct{ typ, content, want string }{
		{PostCreditDistribution, `{"distribution":{"token":"ALEPH","chain":"BASE","credits":[{"address":"0xa","amount":1,"price":"0.5",` +
			`"tx_hash":"0xt","provider":"stripe","origin":"shop","ref":"order-1","payment_method":"card","bonus_amount":20}]}}`,
			"shop|order-1|0.5|20|0xt|ALEPH|BASE|stripe|card||"},
		{PostCreditDistribution, `{"distribution":{"token":"ALEPH","chain":"ETH","credits":[{"address":"0xa","amount":1,"price":3,` +
			`"tx_hash":"0xt","provider":"p","bonus_amount":{"x":1}}]}}`,
			"||3||0xt|ALEPH|ETH|p|||"},
		{PostCreditExpense, `{"expense":{"credits":[{"address":"0xa","amount":7,"ref":"h","execution_id":"x","node_id":"n","price":"0.1","count":2,"size":"1.5"}]}}`,
			"x|h|0.1||n|||ALEPH|credit_expense|2|1.5"},
		{PostCreditTransfer, `{"transfer":{"credits":[{"address":"0xa","amount":5}]}}`,
			CreditSender + "|||||||ALEPH|credit_transfer||"},
	} {
		es, err := ParseCreditPost(c.typ, json.RawMessage(c.content), CreditSender, "ref", after)
		if err != nil {
			t.Fatalf("%s: %v", c.content, err)
		}
		if got := show(es[0]); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.content, got, c.want)
		}
	}
}

// TestUserTransfer: an ordinary account's transfer takes from its lots
// first in first out, each portion granted with the earlier of its lot's
// and the requested expiry (same expiries merged), and a debit of the
// sender; folding the result gives the sender what is left and the
// recipients what they got. Without the total at its position it is
// INVALID_FORMAT.
func TestUserTransfer(t *testing.T) {
	const sender = "0xs"
	at := func(s float64) float64 { return after + s }
	ms := func(s float64) int64 { return int64(at(s) * 1000) }
	ledger := []store.CreditEntry{
		grant("d1", at(100), 30, ms(5000)),
		grant("d2", at(110), 50, 0),
		grant("d3", at(120), 40, ms(9000)),
	}
	for i := range ledger {
		ledger[i].Address = sender
	}
	raw := json.RawMessage(fmt.Sprintf(`{"transfer":{"credits":[{"address":"0xa","amount":60,"expiration":%d},{"address":"0xb","amount":45}]}}`, ms(7000)))
	requested, err := ParseCreditPost(PostCreditTransfer, raw, sender, "tr", at(200))
	if err != nil {
		t.Fatal(err)
	}
	es, err := UserTransfer(requested, sender, ledger, at(200))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		exp := "never"
		if e.Expiration != 0 {
			exp = fmt.Sprintf("%vs", float64(e.Expiration)/1000-after)
		}
		got = append(got, fmt.Sprintf("%d %s %s %s %s %s %s", e.Index, e.Address, e.Kind, WholeCredits(e.Amount), exp, e.Origin, e.PaymentMethod))
	}
	want := []string{
		// 0xa: 30 from d1 (expires at 5,000 s, before the requested
		// 7,000 s), 30 from d2 (never: capped at the requested 7,000 s).
		"0 0xa grant 30 5000s 0xs credit_transfer",
		"1 0xa grant 30 7000s 0xs credit_transfer",
		"2 0xs expense 60 never 0xa credit_transfer",
		// 0xb: the 20 left of d2 (never) and 25 of d3 (9,000 s).
		"3 0xb grant 20 never 0xs credit_transfer",
		"4 0xb grant 25 9000s 0xs credit_transfer",
		"5 0xs expense 45 never 0xb credit_transfer",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("entries:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	all := append(slices.Clone(ledger), es...)
	byAddr := func(a string) []store.CreditEntry {
		return slices.DeleteFunc(slices.Clone(all), func(e store.CreditEntry) bool { return e.Address != a })
	}
	for _, c := range []struct {
		addr string
		at   float64
		want int64
	}{{sender, 200, 15}, {"0xa", 200, 60}, {"0xb", 200, 45}, {"0xa", 5000, 30}, {"0xa", 7000, 0}, {"0xb", 9000, 20}, {sender, 8999, 15}, {sender, 9000, 0}} {
		if b, _ := CreditBalance(byAddr(c.addr), at(c.at)); WholeCredits(b).Int64() != c.want {
			t.Errorf("balance of %s at %v s: %s, want %d", c.addr, c.at, WholeCredits(b), c.want)
		}
	}
	// 106 of the 120 live at 200 s fits; at 6,000 s d1 has expired.
	more, err := ParseCreditPost(PostCreditTransfer, json.RawMessage(`{"transfer":{"credits":[{"address":"0xa","amount":106}]}}`), sender, "tr2", at(200))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UserTransfer(more, sender, ledger, at(200)); err != nil {
		t.Fatalf("106 of 120: %v", err)
	}
	if _, err := UserTransfer(more, sender, ledger, at(6000)); message.CodeOf(err) != message.CodeInvalidFormat ||
		!strings.Contains(err.Error(), "required 106, available 90") {
		t.Fatalf("106 of 90: %v", err)
	}
}

// creditBalanceRef is CreditBalance as first written: one fold from
// scratch per position.
func creditBalanceRef(entries []store.CreditEntry, at float64) (*big.Int, []CreditLot) {
	es := slices.Clone(entries)
	slices.SortFunc(es, store.CompareCreditEntries)
	var lots []CreditLot
	for _, e := range es {
		if e.Time > at {
			break
		}
		if e.Kind == store.CreditGrant {
			lots = append(lots, CreditLot{Ref: e.Ref, Index: e.Index, Time: e.Time, Expiration: e.Expiration, Remaining: new(big.Int).Set(e.Amount)})
			continue
		}
		need := new(big.Int).Set(e.Amount)
		for i := range lots {
			l := &lots[i]
			if need.Sign() == 0 || l.Remaining.Sign() == 0 || !l.live(e.Time) {
				continue
			}
			take := new(big.Int).Set(need)
			if l.Remaining.Cmp(need) < 0 {
				take.Set(l.Remaining)
			}
			need.Sub(need, take)
			l.Remaining = new(big.Int).Sub(l.Remaining, take)
		}
	}
	total := new(big.Int)
	var live []CreditLot
	for _, l := range lots {
		if l.Remaining.Sign() > 0 && l.live(at) {
			total.Add(total, l.Remaining)
			live = append(live, l)
		}
	}
	return total, live
}

// TestCreditFold: folding at ascending positions gives, at each, what a
// fold from scratch gives.
func TestCreditFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		var es []store.CreditEntry
		for i := range 40 {
			e := store.CreditEntry{Ref: fmt.Sprint("r", i), Time: float64(rng.IntN(100)), Kind: store.CreditGrant,
				Amount: big.NewInt(int64(1 + rng.IntN(50)))}
			if rng.IntN(2) == 0 {
				e.Kind = store.CreditExpense
			} else if rng.IntN(2) == 0 {
				e.Expiration = int64(e.Time+float64(rng.IntN(50))) * 1000
			}
			es = append(es, e)
		}
		f := NewCreditFold(es)
		for p := -1.0; p <= 160; p += float64(1 + rng.IntN(5)) {
			got, gotLots := f.At(p)
			want, wantLots := creditBalanceRef(es, p)
			if got.Cmp(want) != 0 || len(gotLots) != len(wantLots) {
				t.Fatalf("at %v: %s (%d lots), want %s (%d lots)", p, got, len(gotLots), want, len(wantLots))
			}
			for i := range gotLots {
				if g, w := gotLots[i], wantLots[i]; g.Ref != w.Ref || g.Remaining.Cmp(w.Remaining) != 0 {
					t.Fatalf("at %v: lot %d %+v, want %+v", p, i, g, w)
				}
			}
		}
	}
}
