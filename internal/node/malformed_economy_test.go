package node

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/message"
)

// TestMalformedEconomyPosts: every malformed credit post from the credit
// sender and every malformed `pricing` element from the pricing address is
// rejected with INVALID_FORMAT and a reason naming what is wrong (the
// reference rejects malformed credit posts the same way; for pricing see
// docs/design/0017-credits.md), and leaves the ledger, the log clock and
// the price table exactly as they were. A valid post afterwards still
// changes them, so the comparison can fail.
func TestMalformedEconomyPosts(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testMalformedEconomyPosts(t, "") })
	t.Run("postgres", func(t *testing.T) { testMalformedEconomyPosts(t, pgtest.Start(t)) })
}

func testMalformedEconomyPosts(t *testing.T, db string) {
	sender, pricer, holder := ethtest.Account(t), ethtest.Account(t), ethtest.Account(t)
	cfg := Config{Economy: EconomyConfig{CreditSenders: []string{sender.Address()}, PricingAddress: pricer.Address()}}
	cfg.DatabaseURL = db
	n := testNode(t, cfg)
	ctx := context.Background()
	const t0 = 1780000000.0
	code := storeFile(t, n, holder, "code archive")
	runtime := storeFile(t, n, holder, "runtime image")

	// state is everything the posts could change: the ledger (every
	// address's entries), the log clock, the pricing elements and the
	// price of a program priced now.
	state := func() string {
		t.Helper()
		var b strings.Builder
		addrs, err := n.store.CreditAddresses(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			es, err := n.store.CreditEntries(ctx, a, 1e12)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				fmt.Fprintf(&b, "%s %s/%d %s %s %d %s@%v\n", e.Address, e.Ref, e.Index, e.Kind, e.Amount, e.Expiration, e.Origin, e.Time)
			}
		}
		clock, err := n.store.LogClock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "clock %v\n", clock)
		err = n.store.Update(ctx, func(tx store.Tx) error {
			els, err := tx.AggregateElements(pricer.Address(), economy.PricingKey)
			for _, el := range els {
				fmt.Fprintf(&b, "pricing %v %s\n", el.CreationTime, el.Content)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		raw := fmt.Appendf(nil, `{"address":%q,"time":%v,"type":"vm-function","allow_amend":false,`+
			`"code":{"encoding":"zip","entrypoint":"main:app","ref":%q,"use_latest":false},`+
			`"runtime":{"ref":%q,"use_latest":false},"on":{"http":true},"resources":{"vcpus":1,"memory":128,"seconds":30}}`,
			holder.Address(), t0+1e6, code.ItemHash, runtime.ItemHash)
		costs, _, err := n.EstimatePrice(ctx, message.TypeProgram, raw, t0+1e6)
		if err != nil {
			t.Fatal(err)
		}
		hold, stream, credit := costs.Sum()
		fmt.Fprintf(&b, "price %s %s %s\n", hold, stream, credit)
		return b.String()
	}
	credit := func(tm float64, typ string, content map[string]any) *message.Message {
		return onChannel(t, sender, message.TypePost, economy.CreditChannel, tm, map[string]any{"type": typ, "content": content})
	}
	pricing := func(tm float64, content map[string]any) *message.Message {
		return at(t, pricer, message.TypeAggregate, tm, map[string]any{"key": economy.PricingKey, "content": content})
	}
	processed := func(what string, m *message.Message) {
		t.Helper()
		if st, err := submit(t, n, m, true); st != store.StatusProcessed {
			t.Fatalf("%s: %s %v", what, st, err)
		}
	}
	// A ledger and a price table to keep: a distribution, an expense and
	// one pricing element.
	processed("distribution", distribution(t, sender, economy.CreditChannel, t0, holder.Address(), 1000, 0))
	processed("expense", credit(t0+1, economy.PostCreditExpense, map[string]any{"expense": map[string]any{
		"credits": []any{map[string]any{"address": holder.Address(), "amount": 10, "ref": code.ItemHash}}}}))
	processed("pricing", pricing(t0+2, map[string]any{"program": map[string]any{"price": map[string]any{"compute_unit": map[string]any{"holding": "150"}}}}))
	before := state()
	if !strings.Contains(before, "price 150000000000000000000 ") {
		t.Fatalf("the pricing element did not set the program price:\n%s", before)
	}

	entry := func(kv ...any) map[string]any {
		e := map[string]any{"address": holder.Address(), "amount": 5, "price": "0.5", "tx_hash": "0xt", "provider": "p"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(e, kv[i].(string))
			} else {
				e[kv[i].(string)] = kv[i+1]
			}
		}
		return e
	}
	dist := func(credits ...any) map[string]any {
		if credits == nil {
			credits = []any{}
		}
		return map[string]any{"distribution": map[string]any{"token": "ALEPH", "chain": "ETH", "credits": credits}}
	}
	cases := []struct {
		name   string
		m      func(tm float64) *message.Message
		reason string
	}{
		{"distribution: float amount", func(tm float64) *message.Message {
			return credit(tm, economy.PostCreditDistribution, dist(entry("amount", 2.5)))
		}, "amount: 2.5 is not an integer"},
		{"distribution: string amount", func(tm float64) *message.Message {
			return credit(tm, economy.PostCreditDistribution, dist(entry("amount", "5")))
		}, "is not an integer"},
		{"distribution: zero amount", func(tm float64) *message.Message {
			return credit(tm, economy.PostCreditDistribution, dist(entry("amount", 0)))
		}, "amount: 0 is not positive"},
		{"distribution: no token", func(tm float64) *message.Message {
			return credit(tm, economy.PostCreditDistribution, map[string]any{"distribution": map[string]any{"chain": "ETH", "credits": []any{entry()}}})
		}, "distribution.token: missing"},
		{"distribution: no entries", func(tm float64) *message.Message {
			return credit(tm, economy.PostCreditDistribution, dist())
		}, "distribution.credits: empty"},
		{"distribution: one good entry, one without a price", func(tm float64) *message.Message {
			return credit(tm, economy.PostCreditDistribution, dist(entry(), entry("price", nil)))
		}, "credits[1].price: missing"},
		{"distribution: bad expiration", func(tm float64) *message.Message {
			return credit(tm, economy.PostCreditDistribution, dist(entry("expiration", "tomorrow")))
		}, "expiration: \"tomorrow\" is not a time"},
		{"distribution: not an object", func(tm float64) *message.Message {
			return credit(tm, economy.PostCreditDistribution, map[string]any{"distribution": []any{1}})
		}, "distribution: not an object"},
		{"expense: negative amount", func(tm float64) *message.Message {
			return credit(tm, economy.PostCreditExpense, map[string]any{"expense": map[string]any{"credits": []any{map[string]any{"address": holder.Address(), "amount": -10}}}})
		}, "amount: -10 is not positive"},
		{"expense: empty address", func(tm float64) *message.Message {
			return credit(tm, economy.PostCreditExpense, map[string]any{"expense": map[string]any{"credits": []any{map[string]any{"address": " ", "amount": 1}}}})
		}, "address: empty"},
		{"expense: credits not a list", func(tm float64) *message.Message {
			return credit(tm, economy.PostCreditExpense, map[string]any{"expense": map[string]any{"credits": map[string]any{}}})
		}, "expense.credits: not a list"},
		{"transfer: to the sender itself", func(tm float64) *message.Message {
			return credit(tm, economy.PostCreditTransfer, map[string]any{"transfer": map[string]any{"credits": []any{map[string]any{"address": sender.Address(), "amount": 1}}}})
		}, "self-transfer"},
		{"transfer: a recipient twice", func(tm float64) *message.Message {
			return credit(tm, economy.PostCreditTransfer, map[string]any{"transfer": map[string]any{"credits": []any{
				map[string]any{"address": holder.Address(), "amount": 1}, map[string]any{"address": holder.Address(), "amount": 2}}}})
		}, "is a recipient twice"},
		{"pricing: negative price", func(tm float64) *message.Message {
			return pricing(tm, map[string]any{"program": map[string]any{"price": map[string]any{"compute_unit": map[string]any{"holding": "-5"}}}})
		}, "must be a non-negative decimal"},
		{"pricing: price not a decimal", func(tm float64) *message.Message {
			return pricing(tm, map[string]any{"storage": map[string]any{"price": map[string]any{"storage": map[string]any{"holding": "cheap"}}}})
		}, "must be a non-negative decimal"},
		{"pricing: product not an object", func(tm float64) *message.Message {
			return pricing(tm, map[string]any{"instance": 5})
		}, "pricing: instance must be an object"},
		{"pricing: compute unit without vCPUs", func(tm float64) *message.Message {
			return pricing(tm, map[string]any{"instance": map[string]any{"compute_unit": map[string]any{"vcpus": 0}}})
		}, "compute_unit needs vcpus ≥ 1"},
		{"pricing: tier without compute units", func(tm float64) *message.Message {
			return pricing(tm, map[string]any{"instance_gpu_standard": map[string]any{"tiers": []any{map[string]any{"id": "t", "compute_units": 0}}}})
		}, "compute_units must be ≥ 1"},
	}
	for i, c := range cases {
		// Each dated after everything valid: a rejected post that moved
		// the log clock would show.
		m := c.m(t0 + 100 + float64(i))
		st, err := submit(t, n, m, true)
		if st != store.StatusRejected || message.CodeOf(err) != message.CodeInvalidFormat || err == nil || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: %s %v, want rejected INVALID_FORMAT saying %q", c.name, st, err, c.reason)
			continue
		}
		rec := waitStatus(t, n, m.ItemHash, store.StatusRejected)
		var details struct{ Errors []string }
		if rec.Rejected != nil {
			json.Unmarshal(rec.Rejected.Details, &details)
		}
		if rec.Rejected == nil || rec.Rejected.ErrorCode != message.CodeInvalidFormat || !strings.Contains(strings.Join(details.Errors, " "), c.reason) {
			t.Errorf("%s: stored rejection %d %s", c.name, rec.Rejected.ErrorCode, rec.Rejected.Details)
		}
		if after := state(); after != before {
			t.Errorf("%s changed the ledger or the prices:\nbefore\n%s\nafter\n%s", c.name, before, after)
		}
	}
	// The same kinds of posts, well formed, do change the state (a
	// pricing element is not a credit post: the clock is the
	// distribution's).
	processed("valid distribution", credit(t0+200, economy.PostCreditDistribution, dist(entry())))
	processed("valid pricing", pricing(t0+201, map[string]any{"program": map[string]any{"price": map[string]any{"compute_unit": map[string]any{"holding": "120"}}}}))
	after := state()
	if after == before || !strings.Contains(after, "price 120000000000000000000 ") || !strings.Contains(after, "clock 1.7800002e+09") {
		t.Fatalf("valid posts after the malformed ones:\n%s", after)
	}
}
