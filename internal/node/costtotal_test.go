package node

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/balancesql"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/message"
)

// TestCostTotalsKept: on both databases, a node admitting from its owners'
// kept cost totals decides every message of a log (balance updates up and
// down, hold PROGRAMs partly out of time order, FORGETs, collection passes
// removing what is no longer paid for) exactly as a node adding up the
// cost rows, with the same rejection messages; and the kept totals equal
// the rows added up after every step, on both nodes.
func TestCostTotalsKept(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testCostTotalsKept(t, func() string { return "" }) })
	t.Run("postgres", func(t *testing.T) { testCostTotalsKept(t, func() string { return pgtest.Start(t) }) })
}

func testCostTotalsKept(t *testing.T, db func() string) {
	oracle := ethtest.Account(t)
	owners := []message.Signer{ethtest.Account(t), ethtest.Account(t), ethtest.Account(t)}
	cfg := Config{Balances: BalancesConfig{Addresses: []string{oracle.Address()}},
		Economy: EconomyConfig{Quota: true, CollectGrace: 60 * time.Second}}
	var nodes [2]*Node // [0] reads the kept totals, [1] adds up the rows
	for i := range nodes {
		cfg.DatabaseURL = db()
		nodes[i] = testNode(t, cfg)
	}
	nodes[1].econ.addUpRows = true
	code := storeFile(t, nodes[0], owners[0], "code archive")
	runtime := storeFile(t, nodes[0], owners[0], "runtime image")
	for _, m := range []*message.Message{code, runtime} {
		storeCopy(t, nodes[0], nodes[1], m)
	}

	const t0 = 1780000000.0 // PROGRAMs cost 200 ALEPH, held
	send := func(m *message.Message) store.Status {
		t.Helper()
		var got [2]string
		var st store.Status
		for i, n := range nodes {
			s, err := submit(t, n, m, true)
			got[i], st = fmt.Sprintf("%s %v", s, err), s
		}
		if got[0] != got[1] {
			t.Fatalf("%s at %v: kept totals %s, rows added up %s", m.Type, m.Time, got[0], got[1])
		}
		return st
	}
	checkTotals := func(step int) {
		t.Helper()
		for i, n := range nodes {
			for _, o := range owners {
				rows, err := n.store.Costs(t.Context(), o.Address())
				if err != nil {
					t.Fatal(err)
				}
				got, err := n.store.CostTotal(t.Context(), o.Address(), 0)
				if len(rows) == 0 {
					if !errors.Is(err, store.ErrNotFound) {
						t.Fatalf("step %d node %d: totals of an owner without rows: %+v %v", step, i, got, err)
					}
					continue
				}
				want := balancesql.SumCosts(rows)
				if err != nil || got.Hold.Cmp(want.Hold) != 0 || got.Credit.Cmp(want.Credit) != 0 || got.Rows != want.Rows ||
					got.HoldRows != want.HoldRows || got.Last != want.Last || got.FirstHold != want.FirstHold {
					t.Fatalf("step %d node %d: kept totals %+v (%v), rows add up to %+v", step, i, got, err, want)
				}
			}
		}
	}

	rng := rand.New(rand.NewPCG(6, 3))
	processed := map[message.Signer][]string{} // programs each owner may forget
	height, decided := 1, map[store.Status]int{}
	for step := range 150 {
		tm := t0 + float64(step)*20
		o := owners[rng.IntN(len(owners))]
		switch k := rng.IntN(10); {
		case k < 3: // the balance moves between 0 and 1,000 ALEPH
			height++
			send(at(t, oracle, message.TypePost, tm, map[string]any{"type": "balances-update", "content": map[string]any{
				"chain": "ETH", "main_height": height, "balances": map[string]any{o.Address(): fmt.Sprint(100 * rng.IntN(11))}}}))
		case k < 8: // a PROGRAM, one in three dated up to 90 s back
			if rng.IntN(3) == 0 {
				tm -= float64(rng.IntN(90))
			}
			m := at(t, o, message.TypeProgram, tm, program(code.ItemHash, runtime.ItemHash, false, ""))
			st := send(m)
			decided[st]++
			if st == store.StatusProcessed {
				processed[o] = append(processed[o], m.ItemHash)
			}
		case k < 9: // a FORGET of one of the owner's programs
			hs := processed[o]
			if len(hs) == 0 {
				continue
			}
			i := rng.IntN(len(hs))
			send(at(t, o, message.TypeForget, tm, map[string]any{"hashes": []string{hs[i]}}))
			processed[o] = append(hs[:i], hs[i+1:]...)
		default: // a collection pass on both nodes
			var res [2]CollectResult
			for i, n := range nodes {
				r, err := n.Collect(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				res[i] = r
			}
			if res[0] != res[1] {
				t.Fatalf("step %d: collection %+v / %+v", step, res[0], res[1])
			}
			decided["removed by collection"] += res[0].Removed
		}
		checkTotals(step)
	}
	// The log must have exercised both outcomes and collection.
	if decided[store.StatusProcessed] == 0 || decided[store.StatusRejected] == 0 || decided["removed by collection"] == 0 {
		t.Fatalf("outcomes %v: the log exercises too little", decided)
	}
	t.Logf("outcomes %v", decided)

	// A message a pass removed stays removed when the owner then forgets
	// another: its row is left alone by the kept totals, not held.
	d := ethtest.Account(t)
	owners = append(owners, d)
	t1 := t0 + 10000
	balance := func(tm float64, amount string) {
		height++
		send(at(t, oracle, message.TypePost, tm, map[string]any{"type": "balances-update", "content": map[string]any{
			"chain": "ETH", "main_height": height, "balances": map[string]any{d.Address(): amount}}}))
	}
	prog := func(tm float64, want store.Status) *message.Message {
		m := at(t, d, message.TypeProgram, tm, program(code.ItemHash, runtime.ItemHash, false, ""))
		if st := send(m); st != want {
			t.Fatalf("program at %v: %s, want %s", tm, st, want)
		}
		return m
	}
	balance(t1, "400")
	p1, p2 := prog(t1+1, store.StatusProcessed), prog(t1+2, store.StatusProcessed)
	balance(t1+10, "200")
	balance(t1+100, "200") // the log clock passes p2's grace
	for _, n := range nodes {
		if res, err := n.Collect(t.Context()); err != nil || res.Removed == 0 {
			t.Fatalf("collection: %+v %v", res, err)
		}
		if st, err := n.store.Status(t.Context(), p2.ItemHash); err != nil || st.Status != store.StatusRemoved {
			t.Fatalf("p2: %+v %v", st, err)
		}
	}
	send(at(t, d, message.TypeForget, t1+110, map[string]any{"hashes": []string{p1.ItemHash}}))
	checkTotals(-1)
	prog(t1+120, store.StatusProcessed) // 200 of 200: p2 holds nothing
	checkTotals(-2)
}
