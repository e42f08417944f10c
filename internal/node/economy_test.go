package node

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/message"
)

// at signs content dated at time tm (seconds).
func at(t testing.TB, a message.Signer, typ message.Type, tm float64, content map[string]any) *message.Message {
	t.Helper()
	content["time"] = tm
	return sign(t, a, typ, content)
}

// TestHoldAdmission: with quotas on, a PROGRAM whose owner holds less than
// its hold price is rejected with BALANCE_INSUFFICIENT; after a
// balances-update top-up the same program, sent again, is processed; the
// prices in force and the balance are those at each message's time, so a
// node given the same messages in another order decides the same.
func TestHoldAdmission(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testHoldAdmission(t, func() string { return "" }) })
	t.Run("postgres", func(t *testing.T) { testHoldAdmission(t, func() string { return pgtest.Start(t) }) })
}

// testHoldAdmission runs TestHoldAdmission on the databases db gives (""
// for SQLite in the data directory).
func testHoldAdmission(t *testing.T, db func() string) {
	oracle, holder, pricer := ethtest.Account(t), ethtest.Account(t), ethtest.Account(t)
	cfg := Config{Balances: BalancesConfig{Addresses: []string{oracle.Address()}},
		Economy: EconomyConfig{Quota: true, PricingAddress: pricer.Address()}}
	cfg.DatabaseURL = db()
	n := testNode(t, cfg)
	// Dated between the hold cut-off (instances need credits) and the
	// credit-only one (on-demand programs may be held).
	const t0 = 1780000000.0
	code := storeFile(t, n, holder, "code archive") // small STOREs are free
	runtime := storeFile(t, n, holder, "runtime image")
	topUp := func(tm float64, height int, amount string) *message.Message {
		return at(t, oracle, message.TypePost, tm, map[string]any{"type": "balances-update", "content": map[string]any{
			"chain": "ETH", "main_height": height, "balances": map[string]any{holder.Address(): amount}}})
	}
	prog := func(tm float64) *message.Message {
		return at(t, holder, message.TypeProgram, tm, program(code.ItemHash, runtime.ItemHash, false, ""))
	}
	var log []*message.Message // every message, to replay on another node
	send := func(m *message.Message) (store.Status, error) {
		log = append(log, m)
		return submit(t, n, m, true)
	}

	if st, err := send(topUp(t0+1, 10, "150")); st != store.StatusProcessed {
		t.Fatalf("top-up: %s %v", st, err)
	}
	p1 := prog(t0 + 2)
	st, err := send(p1)
	var me *message.Error
	if st != store.StatusRejected || !errors.As(err, &me) || me.Code != message.CodeBalanceInsufficient {
		t.Fatalf("program with 150 ALEPH for 200: %s %v", st, err)
	}
	rej := waitStatus(t, n, p1.ItemHash, store.StatusRejected)
	var details map[string]json.Number
	if err := json.Unmarshal(rej.Rejected.Details, &details); err != nil || details["required_balance"] != "200.0" || details["account_balance"] != "150.0" {
		t.Fatalf("rejection details %s (%v)", rej.Rejected.Details, err)
	}
	// Topped up to 250: the same program, sent again, is processed.
	if st, err := send(topUp(t0+3, 11, "250")); st != store.StatusProcessed {
		t.Fatalf("top-up: %s %v", st, err)
	}
	p2 := prog(t0 + 4)
	if st, err := send(p2); st != store.StatusProcessed {
		t.Fatalf("program after the top-up: %s %v", st, err)
	}
	// The price endpoint gives the reference's shape; a rejected message
	// has no price.
	price := getPrice(t, n, "GET", "/api/v0/price/"+p2.ItemHash, "", http.StatusOK)
	if price["required_tokens"] != json.Number("200") || price["cost"] != "200.000000000000000000" || price["payment_type"] != "hold" || price["charged_address"] != holder.Address() {
		t.Errorf("price of the program: %v", price)
	}
	if d := price["detail"].([]any); len(d) != 4 || d[0].(map[string]any)["type"] != "EXECUTION" || d[0].(map[string]any)["name"] != "program" {
		t.Errorf("price detail: %v", d)
	}
	getPrice(t, n, "GET", "/api/v0/price/"+p1.ItemHash, "", http.StatusNotFound)
	// The first copy stays rejected: at its time the balance was 150.
	if st, err := send(p1); st != store.StatusRejected || message.CodeOf(err) != message.CodeBalanceInsufficient {
		t.Fatalf("first program sent again: %s %v", st, err)
	}
	// A second program would hold 400 of 250.
	p3 := prog(t0 + 5)
	if st, err := send(p3); st != store.StatusRejected || message.CodeOf(err) != message.CodeBalanceInsufficient {
		t.Fatalf("second program: %s %v", st, err)
	}
	// A malformed pricing element from the pricing address is refused and
	// changes nothing; a valid one lowers the program price from its time.
	bad := at(t, pricer, message.TypeAggregate, t0+6, map[string]any{"key": "pricing",
		"content": map[string]any{"program": map[string]any{"price": map[string]any{"compute_unit": map[string]any{"holding": "-5"}}}}})
	if st, err := send(bad); st != store.StatusRejected || message.CodeOf(err) != message.CodeInvalidFormat {
		t.Fatalf("malformed pricing: %s %v", st, err)
	}
	cheaper := at(t, pricer, message.TypeAggregate, t0+7, map[string]any{"key": "pricing",
		"content": map[string]any{"program": map[string]any{"price": map[string]any{"compute_unit": map[string]any{"holding": "50"}}}}})
	if st, err := send(cheaper); st != store.StatusProcessed {
		t.Fatalf("pricing: %s %v", st, err)
	}
	p4 := prog(t0 + 8)
	if st, err := send(p4); st != store.StatusProcessed {
		t.Fatalf("program at 50 ALEPH with 200 of 250 held: %s %v", st, err)
	}
	// An INSTANCE paid in hold after the hold cut-off: wrong payment method.
	in := at(t, holder, message.TypeInstance, t0+9, map[string]any{"allow_amend": false,
		"rootfs":    map[string]any{"parent": map[string]any{"ref": runtime.ItemHash, "use_latest": true}, "persistence": "host", "size_mib": 20480},
		"resources": map[string]any{"vcpus": 1, "memory": 2048, "seconds": 30}})
	if st, err := send(in); st != store.StatusRejected || message.CodeOf(err) != message.CodeInvalidPaymentMethod {
		t.Fatalf("hold instance after the cut-off: %s %v", st, err)
	}
	// No credits were distributed: a credit-paid program is refused.
	cp := program(code.ItemHash, runtime.ItemHash, false, "")
	cp["payment"] = map[string]any{"type": "credit"}
	if st, err := send(at(t, holder, message.TypeProgram, t0+10, cp)); st != store.StatusRejected || message.CodeOf(err) != message.CodeCreditInsufficient {
		t.Fatalf("credit program: %s %v", st, err)
	}

	// Replay: a fresh node given the log in time order, as a replay from
	// the chain gives it (not in the order this node received it: p1 came
	// twice, the second time after p2), decides every message the same.
	cfg.DatabaseURL = db()
	n2 := testNode(t, cfg)
	for _, m := range []*message.Message{code, runtime} {
		storeCopy(t, n, n2, m)
	}
	sorted := slices.Clone(log)
	slices.SortStableFunc(sorted, func(a, b *message.Message) int { return cmp.Compare(a.Time, b.Time) })
	for _, m := range sorted {
		submit(t, n2, m, true)
	}
	for _, m := range log {
		a, err1 := n.store.Status(t.Context(), m.ItemHash)
		b, err2 := n2.store.Status(t.Context(), m.ItemHash)
		if err1 != nil || err2 != nil || a.Status != b.Status || (a.Rejected != nil && a.Rejected.ErrorCode != b.Rejected.ErrorCode) {
			t.Errorf("%s %s: %+v / %+v (%v, %v)", m.Type, m.ItemHash, a, b, err1, err2)
		}
	}
}

// getPrice calls a price endpoint of n and decodes its answer.
func getPrice(t *testing.T, n *Node, method, path, body string, want int) map[string]any {
	t.Helper()
	rr := httptest.NewRecorder()
	n.Handler().ServeHTTP(rr, httptest.NewRequest(method, path, strings.NewReader(body)))
	if rr.Code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, rr.Code, rr.Body, want)
	}
	var out map[string]any
	dec := json.NewDecoder(rr.Body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return out
}

func TestPriceEstimate(t *testing.T) {
	n := testNode(t, Config{})
	storeEstimate := func(mib int) map[string]any {
		c := fmt.Sprintf(`{\"address\":\"0xa\",\"time\":1780000000,\"item_type\":\"storage\",\"item_hash\":\"%s\",\"estimated_size_mib\":%d}`, strings.Repeat("a", 64), mib)
		return getPrice(t, n, "POST", "/api/v0/price/estimate", `{"message":{"type":"STORE","time":1780000000,"item_content":"`+c+`"}}`, http.StatusOK)
	}
	// 3 MiB: free in hold (25 MiB or less before the credit-only cut-off),
	// its line still priced at 3 MiB per ALEPH.
	st := storeEstimate(3)
	if st["cost"] != "0.000000000000000000" || st["charged_address"] != "0xa" || st["detail"].([]any)[0].(map[string]any)["cost_hold"] != "0.999999999000000000" {
		t.Errorf("3 MiB STORE estimate: %v", st)
	}
	if st := storeEstimate(30); st["cost"] != "9.999999990000000000" {
		t.Errorf("30 MiB STORE estimate: %v", st)
	}
	in := getPrice(t, n, "POST", "/api/v0/price/estimate/instance", `{"address":"0xb","time":1780000000,"allow_amend":false,
		"payment":{"type":"credit"},"resources":{"vcpus":1,"memory":2048,"seconds":30},
		"rootfs":{"parent":{"ref":"`+strings.Repeat("b", 64)+`","use_latest":true},"persistence":"host","size_mib":20480}}`, http.StatusOK)
	if in["cost"] != "3.958333333333333333" || in["payment_type"] != "credit" {
		t.Errorf("instance estimate (14,250 credits/h, per second): %v", in)
	}
	getPrice(t, n, "POST", "/api/v0/price/estimate", `{"message":{"type":"POST","content":{}}}`, http.StatusBadRequest)
}

// storeCopy gives n2 the file of STORE m of n, and m.
func storeCopy(t *testing.T, n, n2 *Node, m *message.Message) {
	t.Helper()
	var c struct {
		ItemHash string `json:"item_hash"`
	}
	if err := json.Unmarshal([]byte(m.ItemContent), &c); err != nil {
		t.Fatal(err)
	}
	f, err := n.files.Open(t.Context(), c.ItemHash)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := n2.files.Add(t.Context(), files.Native, f, files.AddOptions{})
	if err != nil || info.Hash != c.ItemHash {
		t.Fatalf("copy %s: %s %v", c.ItemHash, info.Hash, err)
	}
	if err := n2.PinUpload(t.Context(), info); err != nil {
		t.Fatal(err)
	}
	mustProcess(t, n2, m)
}
