package node

import (
	"bytes"
	"errors"
	"math/big"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/message"
)

// TestCreditCollection: with quotas on, an owner whose credits (from the
// credit sender's distribution) fall, by an expense, below a day of its
// credit-paid messages' per-second costs sees the newest one removing
// (credit_insufficient), the older one processed; a new distribution
// before the grace ends brings it back. Another owner whose credits stay
// low has its STORE removed once the log clock (moved by credit and
// balance posts) passes the grace, its file deleted. A second node given
// the same log in time order, on the other database, collecting once at
// the end, reports the same statuses and collection rows.
func TestCreditCollection(t *testing.T) {
	sender, oracle, a, b, c := ethtest.Account(t), ethtest.Account(t), ethtest.Account(t), ethtest.Account(t), ethtest.Account(t)
	cfg := Config{Balances: BalancesConfig{Addresses: []string{oracle.Address()}},
		Economy: EconomyConfig{Quota: true, CreditSenders: []string{sender.Address()}}}
	n := testNode(t, cfg)
	cfg.DatabaseURL = pgtest.Start(t)
	n2 := testNode(t, cfg)

	const t0 = 1780000000.0
	grace := DefaultCollectGrace.Seconds()
	addFile := func(data []byte) string {
		hash := ""
		for _, x := range []*Node{n, n2} {
			info, err := x.files.Add(t.Context(), files.Native, bytes.NewReader(data), files.AddOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := x.PinUpload(t.Context(), info); err != nil {
				t.Fatal(err)
			}
			hash = info.Hash
		}
		return hash
	}
	fa, fb := paidFile(t, 4, n, n2), paidFile(t, 5, n, n2)
	codeFile, runtimeFile := addFile([]byte("code archive")), addFile([]byte("runtime image"))

	var log []*message.Message
	send := func(m *message.Message, want store.Status) {
		t.Helper()
		log = append(log, m)
		if st, err := submit(t, n, m, true); st != want {
			t.Fatalf("%s at %v: %s %v, want %s", m.Type, m.Time-t0, st, err, want)
		}
	}
	collect := func(want CollectResult) {
		t.Helper()
		res, err := n.Collect(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want.Clock, want.Owners, want.BytesFreed = res.Clock, res.Owners, res.BytesFreed
		if res != want {
			t.Fatalf("collection pass: %+v, want %+v", res, want)
		}
	}
	status := func(m *message.Message, want store.Status) {
		t.Helper()
		st, err := n.store.Status(t.Context(), m.ItemHash)
		if err != nil || st.Status != want {
			t.Fatalf("%s at %v: %+v %v, want %s", m.Type, m.Time-t0, st, err, want)
		}
	}
	credit := map[string]any{"type": "credit"}
	storeAt := func(s message.Signer, tm float64, hash string) *message.Message {
		return at(t, s, message.TypeStore, tm, map[string]any{"item_type": "storage", "item_hash": hash, "payment": credit})
	}
	// need is a day of a message's per-second credit cost, in whole
	// credits rounded up.
	need := func(m *message.Message) int64 {
		t.Helper()
		k, err := n.store.Cost(t.Context(), m.ItemHash)
		if err != nil || k.PaymentType != economy.PaymentCredit || k.Credit.Sign() <= 0 {
			t.Fatalf("cost of %s: %+v %v", m.Type, k, err)
		}
		day := new(big.Int).Mul(k.Credit, big.NewInt(creditRunway))
		whole := economy.WholeCredits(new(big.Int).Add(day, new(big.Int).Sub(creditUnit, big.NewInt(1))))
		if !whole.IsInt64() {
			t.Fatalf("day of %s: %s credits", m.Type, whole)
		}
		return whole.Int64()
	}
	expense := func(tm float64, owner message.Signer, amount int64) *message.Message {
		return onChannel(t, sender, message.TypePost, economy.CreditChannel, tm, map[string]any{"type": economy.PostCreditExpense,
			"content": map[string]any{"expense": map[string]any{"credits": []any{map[string]any{"address": owner.Address(), "amount": amount}}}}})
	}
	dist := func(tm float64, to message.Signer, amount int64) *message.Message {
		return distribution(t, sender, economy.CreditChannel, tm, to.Address(), amount, 0)
	}

	// The program's volumes: small hold STOREs, free.
	code := at(t, a, message.TypeStore, t0, map[string]any{"item_type": "storage", "item_hash": codeFile})
	runtime := at(t, a, message.TypeStore, t0, map[string]any{"item_type": "storage", "item_hash": runtimeFile})
	send(code, store.StatusProcessed)
	send(runtime, store.StatusProcessed)

	// Plenty of credits, then a's STORE and PROGRAM and b's STORE.
	const plenty = 1_000_000_000
	send(dist(t0+1, a, plenty), store.StatusProcessed)
	send(dist(t0+1, b, plenty), store.StatusProcessed)
	a1 := storeAt(a, t0+2, fa)
	p := program(code.ItemHash, runtime.ItemHash, false, "")
	p["payment"] = credit
	a2 := at(t, a, message.TypeProgram, t0+3, p)
	b1 := storeAt(b, t0+4, fb)
	for _, m := range []*message.Message{a1, a2, b1} {
		send(m, store.StatusProcessed)
	}
	na1, na2, nb1 := need(a1), need(a2), need(b1)
	t.Logf("a day of credits: STORE %d, PROGRAM %d", na1, na2)
	if na1 < 2 || na2 < 2 {
		t.Fatalf("a day of credits too small to test: %d %d", na1, na2)
	}
	collect(CollectResult{})

	// Expenses leave a with its older message's day and half the newer
	// one's, b with half a day of its STORE.
	send(expense(t0+100, a, plenty-na1-na2/2), store.StatusProcessed)
	send(expense(t0+100, b, plenty-nb1/2), store.StatusProcessed)
	collect(CollectResult{Removing: 2})
	status(a1, store.StatusProcessed)
	status(a2, store.StatusRemoving)
	status(b1, store.StatusRemoving)
	body := getJSON(t, n, "/api/v0/messages/"+a2.ItemHash, http.StatusOK)
	if body["status"] != "removing" || body["reason"] != "credit_insufficient" || body["message"] == nil {
		t.Fatalf("removing message: %v", body)
	}

	// A new distribution to a before the grace ends: processed again.
	send(dist(t0+3600, a, na2), store.StatusProcessed)
	collect(CollectResult{Restored: 1})
	status(a2, store.StatusProcessed)
	status(b1, store.StatusRemoving)

	// Credit and balance posts move the log clock past b's grace: its
	// STORE is removed, a's messages stay.
	send(dist(t0+100+grace/2, c, 1), store.StatusProcessed)
	send(at(t, oracle, message.TypePost, t0+100+grace+50, map[string]any{"type": "balances-update", "content": map[string]any{
		"chain": "ETH", "main_height": 10, "balances": map[string]any{c.Address(): "1"}}}), store.StatusProcessed)
	collect(CollectResult{Removed: 1})
	status(b1, store.StatusRemoved)
	for _, m := range []*message.Message{a1, a2, code, runtime} {
		status(m, store.StatusProcessed)
	}
	body = getJSON(t, n, "/api/v0/messages/"+b1.ItemHash, http.StatusOK)
	if body["status"] != "removed" || body["reason"] != "credit_insufficient" || body["removed_at"] == nil {
		t.Fatalf("removed message: %v", body)
	}
	if _, err := n.CollectGarbage(t.Context(), time.Now().Add(2*n.cfg.GracePeriod)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.files.Stat(t.Context(), fb); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("file of the removed STORE: %v", err)
	}
	if _, err := n.files.Stat(t.Context(), fa); err != nil {
		t.Fatalf("file of a live STORE: %v", err)
	}
	collect(CollectResult{})
	for name, c := range map[string]struct {
		v    *prometheus.CounterVec
		want float64
	}{"removing": {n.metrics.collectRemoving, 2}, "removed": {n.metrics.collectRemoved, 1}} {
		if v := testutil.ToFloat64(c.v.WithLabelValues(economy.PaymentCredit)); v != c.want {
			t.Errorf("credit %s metric: %v, want %v", name, v, c.want)
		}
		if v := testutil.ToFloat64(c.v.WithLabelValues(economy.PaymentHold)); v != 0 {
			t.Errorf("hold %s metric: %v, want 0", name, v)
		}
	}

	// The second node: the log in time order, one pass at the end.
	replayAndCompare(t, n, n2, log)
	if st, err := n2.store.Status(t.Context(), b1.ItemHash); err != nil || st.Status != store.StatusRemoved {
		t.Errorf("b's STORE on the second node: %+v %v", st, err)
	}
}

// creditUnit is one whole credit in base units.
var creditUnit = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)

// TestCreditTimeline: the credit funds change at grants, expenses and
// expiries, and a credit row needs a day of its per-second cost.
func TestCreditTimeline(t *testing.T) {
	es := []store.CreditEntry{
		{Ref: "g1", Time: 10, Kind: store.CreditGrant, Amount: big.NewInt(100), Expiration: 50_000},
		{Ref: "g2", Time: 20, Kind: store.CreditGrant, Amount: big.NewInt(30)},
		{Ref: "e1", Time: 30, Kind: store.CreditExpense, Amount: big.NewInt(40)},
	}
	tl := &creditTimeline{entries: es, fold: economy.NewCreditFold(es)}
	if got, want := tl.points(), []float64{10, 20, 30, 50}; !slices.Equal(got, want) {
		t.Fatalf("points %v, want %v", got, want)
	}
	for _, c := range []struct {
		at   float64
		want int64
	}{{5, 0}, {10, 100}, {20, 130}, {30, 90}, {49, 90}, {50, 30}} {
		if got := tl.at(c.at); got.Int64() != c.want {
			t.Errorf("funds at %v: %s, want %d", c.at, got, c.want)
		}
	}
	if got := creditJob.need(store.Cost{Credit: big.NewInt(2)}); got.Int64() != 2*86400 {
		t.Errorf("need: %s", got)
	}
	// A row of the last day's need is covered until the lot expires,
	// then removed a grace later.
	rows := []*collectRow{{cost: store.Cost{Time: 15}, need: big.NewInt(60)}}
	walkCollection(rows, &creditTimeline{entries: es, fold: economy.NewCreditFold(es)}, 1000, 100)
	if rows[0].since != 50 || rows[0].removedAt != 150 {
		t.Errorf("row: since %v removed %v, want 50 150", rows[0].since, rows[0].removedAt)
	}
}
