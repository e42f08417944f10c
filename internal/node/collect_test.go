package node

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/message"
)

// paidFile adds a file just over the free STORE size (so that a hold STORE
// of it costs) to every node given.
func paidFile(t *testing.T, fill byte, ns ...*Node) string {
	t.Helper()
	data := bytes.Repeat([]byte{fill}, int(economy.FreeStoreBytes)+economy.MiB)
	hash := ""
	for _, n := range ns {
		info, err := n.files.Add(t.Context(), files.Native, bytes.NewReader(data), files.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.PinUpload(t.Context(), info); err != nil {
			t.Fatal(err)
		}
		hash = info.Hash
	}
	return hash
}

// TestCollection: with quotas on, an owner whose balance falls below what
// its STOREs hold sees the newest ones removing, then removed once the log
// clock passes the grace period, their files deleted unless another live
// STORE pins them; an owner whose balance returns before the end of the
// grace keeps everything. A second node given the same log in time order,
// on the other database, collecting once at the end, reports the same
// statuses for every message, balance rejections included.
func TestCollection(t *testing.T) {
	oracle, a, b := ethtest.Account(t), ethtest.Account(t), ethtest.Account(t)
	cfg := Config{Balances: BalancesConfig{Addresses: []string{oracle.Address()}}, Economy: EconomyConfig{Quota: true}}
	n := testNode(t, cfg)
	cfg.DatabaseURL = pgtest.Start(t)
	n2 := testNode(t, cfg)

	const t0 = 1780000000.0 // hold STOREs over 25 MiB are paid then
	grace := DefaultCollectGrace.Seconds()
	f1, f2, shared := paidFile(t, 1, n, n2), paidFile(t, 2, n, n2), paidFile(t, 3, n, n2)
	balance := func(tm float64, height int, amounts map[string]any) *message.Message {
		return at(t, oracle, message.TypePost, tm, map[string]any{"type": "balances-update", "content": map[string]any{
			"chain": "ETH", "main_height": height, "balances": amounts}})
	}
	storeAt := func(s message.Signer, tm float64, hash string) *message.Message {
		return at(t, s, message.TypeStore, tm, map[string]any{"item_type": "storage", "item_hash": hash})
	}
	var log []*message.Message
	send := func(m *message.Message, want store.Status) {
		t.Helper()
		log = append(log, m)
		if st, err := submit(t, n, m, true); st != want {
			t.Fatalf("%s at %v: %s %v, want %s", m.Type, m.Time, st, err, want)
		}
	}
	collect := func(want CollectResult) {
		t.Helper()
		res, err := n.Collect(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want.Clock, want.Owners = res.Clock, res.Owners
		if want.BytesFreed == 0 {
			want.BytesFreed = res.BytesFreed
		}
		if res != want {
			t.Fatalf("collection pass: %+v, want %+v", res, want)
		}
	}
	status := func(m *message.Message, want store.Status) {
		t.Helper()
		st, err := n.store.Status(t.Context(), m.ItemHash)
		if err != nil || st.Status != want {
			t.Fatalf("%s at %v: %+v %v, want %s", m.Type, m.Time, st, err, want)
		}
	}

	// Each STORE holds 26 MiB × 0.333333333 ≈ 8.67 ALEPH: 30 covers a's
	// three, 10 covers b's one.
	send(balance(t0+1, 10, map[string]any{a.Address(): "30", b.Address(): "10"}), store.StatusProcessed)
	a1, a2, a3 := storeAt(a, t0+2, f1), storeAt(a, t0+3, f2), storeAt(a, t0+4, shared)
	bs := storeAt(b, t0+5, shared)
	for _, m := range []*message.Message{a1, a2, a3, bs} {
		send(m, store.StatusProcessed)
	}
	collect(CollectResult{})

	// a falls to 10 (its oldest STORE only), b to 5 (nothing).
	send(balance(t0+100, 11, map[string]any{a.Address(): "10", b.Address(): "5"}), store.StatusProcessed)
	collect(CollectResult{Removing: 3})
	status(a1, store.StatusProcessed)
	for _, m := range []*message.Message{a2, a3, bs} {
		status(m, store.StatusRemoving)
	}
	body := getJSON(t, n, "/api/v0/messages/"+a2.ItemHash, http.StatusOK)
	if body["status"] != "removing" || body["reason"] != "balance_insufficient" || body["message"] == nil {
		t.Fatalf("removing message: %v", body)
	}
	// A removing STORE is still held: a new one does not fit.
	ar := storeAt(a, t0+200, f1)
	log = append(log, ar)
	if st, err := submit(t, n, ar, true); st != store.StatusRejected || message.CodeOf(err) != message.CodeBalanceInsufficient {
		t.Fatalf("STORE over the balance: %s %v", st, err)
	}

	// b's balance returns before the grace ends; a's does not.
	send(balance(t0+3700, 12, map[string]any{b.Address(): "10"}), store.StatusProcessed)
	collect(CollectResult{Restored: 1})
	status(bs, store.StatusProcessed)

	// The log clock (a balance post dated after the grace) passes the
	// grace of a's two newest: removed, and no longer held, so that a
	// STORE dated after it fits beside the oldest.
	send(balance(t0+100+grace+50, 13, map[string]any{a.Address(): "18"}), store.StatusProcessed)
	a4 := storeAt(a, t0+100+grace+60, f1)
	send(a4, store.StatusProcessed)
	// (no bytes freed yet: the uploads' grace pins still hold the files)
	collect(CollectResult{Removed: 2})
	status(a2, store.StatusRemoved)
	status(a3, store.StatusRemoved)
	for _, m := range []*message.Message{a1, bs, a4} {
		status(m, store.StatusProcessed)
	}
	body = getJSON(t, n, "/api/v0/messages/"+a2.ItemHash, http.StatusOK)
	if body["status"] != "removed" || body["reason"] != "balance_insufficient" || body["removed_at"] == nil || body["message"] == nil {
		t.Fatalf("removed message: %v", body)
	}
	// The file of a2 goes with the next garbage collection (past the
	// upload's grace pin); the shared one stays, b's STORE pins it.
	if _, err := n.CollectGarbage(t.Context(), time.Now().Add(2*n.cfg.GracePeriod)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.files.Stat(t.Context(), f2); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("file of the removed STORE: %v", err)
	}
	for _, h := range []string{f1, shared} {
		if _, err := n.files.Stat(t.Context(), h); err != nil {
			t.Fatalf("file %s of a live STORE: %v", h, err)
		}
	}
	// A later pass changes nothing.
	collect(CollectResult{})

	replayAndCompare(t, n, n2, log)
}

// replayAndCompare gives n2 the log in time order, runs one collection
// pass on it at the end, and checks that it reports the same status,
// rejection code and collection row as n for every message.
func replayAndCompare(t *testing.T, n, n2 *Node, log []*message.Message) {
	t.Helper()
	sorted := slices.Clone(log)
	slices.SortStableFunc(sorted, func(x, y *message.Message) int { return cmp.Compare(x.Time, y.Time) })
	for _, m := range sorted {
		submit(t, n2, m, true)
	}
	if _, err := n2.Collect(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, m := range log {
		x, err1 := n.store.Status(t.Context(), m.ItemHash)
		y, err2 := n2.store.Status(t.Context(), m.ItemHash)
		if err1 != nil || err2 != nil || x.Status != y.Status || (x.Rejected == nil) != (y.Rejected == nil) ||
			(x.Rejected != nil && x.Rejected.ErrorCode != y.Rejected.ErrorCode) {
			t.Errorf("%s at %v: %s / %s (%v, %v)", m.Type, m.Time, x.Status, y.Status, err1, err2)
		}
		cx, err1 := n.store.Collection(t.Context(), m.ItemHash)
		cy, err2 := n2.store.Collection(t.Context(), m.ItemHash)
		if cx != cy || !errors.Is(err1, err2) && (err1 != nil || err2 != nil) {
			t.Errorf("%s at %v: collection %+v / %+v (%v, %v)", m.Type, m.Time, cx, cy, err1, err2)
		}
	}
}

// getJSON gets path from n's API and decodes the object it answers.
func getJSON(t *testing.T, n *Node, path string, want int) map[string]any {
	t.Helper()
	rr := httptest.NewRecorder()
	n.Handler().ServeHTTP(rr, httptest.NewRequest("GET", path, nil))
	var out map[string]any
	if rr.Code != want || json.Unmarshal(rr.Body.Bytes(), &out) != nil {
		t.Fatalf("GET %s: %d %s, want %d", path, rr.Code, rr.Body, want)
	}
	return out
}

// fixedFunds is a funds timeline of fixed steps.
type fixedFunds struct {
	pos   []float64
	funds []int64
}

func (f fixedFunds) points() []float64 { return f.pos }

func (f fixedFunds) at(p float64) *big.Int {
	v := int64(0)
	for i, q := range f.pos {
		if q <= p {
			v = f.funds[i]
		}
	}
	return big.NewInt(v)
}

// TestWalkCollection checks the walk's rules on fixed funds.
func TestWalkCollection(t *testing.T) {
	row := func(tm float64, need int64) *collectRow {
		return &collectRow{cost: store.Cost{Time: tm}, need: big.NewInt(need)}
	}
	const grace = 100
	for name, c := range map[string]struct {
		funds   fixedFunds
		clock   float64
		rows    []*collectRow
		since   []float64
		removed []float64
	}{
		"covered": {fixedFunds{[]float64{0}, []int64{10}}, 1000, []*collectRow{row(1, 4), row(2, 6)},
			[]float64{-1, -1}, []float64{0, 0}},
		// The newest is not covered; a later cheaper one still is.
		"newest first": {fixedFunds{[]float64{0, 10}, []int64{10, 5}}, 50, []*collectRow{row(1, 4), row(2, 6), row(3, 1)},
			[]float64{-1, 10, -1}, []float64{0, 0, 0}},
		"removed at the end of the grace": {fixedFunds{[]float64{0, 10}, []int64{10, 5}}, 110, []*collectRow{row(1, 4), row(2, 6)},
			[]float64{-1, 10}, []float64{0, 110}},
		"covered again before the end": {fixedFunds{[]float64{0, 10, 109}, []int64{10, 5, 10}}, 500, []*collectRow{row(1, 4), row(2, 6)},
			[]float64{-1, -1}, []float64{0, 0}},
		// Once the oldest is removed, the next fits in what it held.
		"removal frees the balance": {fixedFunds{[]float64{0, 10, 120}, []int64{20, 0, 10}}, 500, []*collectRow{row(1, 10), row(60, 6)},
			[]float64{10, -1}, []float64{110, 0}},
	} {
		t.Run(name, func(t *testing.T) {
			walkCollection(c.rows, c.funds, c.clock, grace)
			for i, r := range c.rows {
				if r.removedAt != c.removed[i] || (r.removedAt == 0 && r.since != c.since[i]) {
					t.Errorf("row %d: since %v removed %v, want %v %v", i, r.since, r.removedAt, c.since[i], c.removed[i])
				}
			}
		})
	}
}
