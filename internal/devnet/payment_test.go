package devnet_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/balances"
	"github.com/goaleph/goaleph/internal/chain/devchain"
	"github.com/goaleph/goaleph/internal/compute/sandbox/sandboxtest"
	"github.com/goaleph/goaleph/internal/devnet"
	"github.com/goaleph/goaleph/internal/testhttp"
	"github.com/goaleph/goaleph/message"
)

// paymentWait bounds the waits of the payment test: a token transfer
// reaches the nodes a block or two (1 s each) later, a payment check runs
// every 300 ms; 10x headroom over what a loaded machine takes.
const paymentWait = 2 * time.Minute

// TestComputePayment runs on a devnet with a chain, whose nodes enforce
// quotas, and its compute node (sandbox backend, payment check every
// 300 ms). An owner without ALEPH gets its PROGRAM rejected with
// BALANCE_INSUFFICIENT and the exact amounts; after a transfer on the
// chain tops it up, the same upload is processed and runs. Then the
// compute node stops an execution whose message is forgotten, and one
// whose owner moved its tokens away (the newest of the owner's: the older
// one, still paid for, keeps running).
func TestComputePayment(t *testing.T) {
	image, progPath := debianRuntime(t)
	progBin, err := os.ReadFile(progPath)
	if err != nil {
		t.Fatal(err)
	}
	// One-second blocks: balances are dated at their block's time, and a
	// dev chain steps its timestamps a second per block, so faster blocks
	// would date the funds after the messages that spend them.
	dc, err := devchain.New(devchain.Config{BlockInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	nw, err := devnet.Start(t.Context(), devnet.Config{Nodes: 1, Compute: true, ComputePaymentInterval: 300 * time.Millisecond,
		Chain: &devnet.ChainConfig{RPC: dc.URL(), FundedKey: dc.Accounts()[0].KeyHex(), CommitDelay: time.Minute,
			PollInterval: 100 * time.Millisecond, Confirmations: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	ch := nw.Chain()
	api := client.New(nw.Nodes()[0].APIURL())
	user, err := eth.AccountFromHex(ch.UserKey) // the printed `aleph account import` key
	if err != nil {
		t.Fatal(err)
	}
	// The owner: an account of the dev chain with ETH for gas and no ALEPH.
	owner, err := eth.AccountFromHex(dc.Accounts()[1].KeyHex())
	if err != nil {
		t.Fatal(err)
	}
	ownerAddr := common.HexToAddress(owner.Address())

	// The runtime is the funded user's STORE (it costs more than the free
	// 25 MiB); the code, small, is free.
	store := func(s *eth.Account, data []byte) string {
		t.Helper()
		res, err := api.Store(t.Context(), s, bytes.NewReader(data), client.StoreParams{Sync: true})
		if err != nil || res.Status != client.StatusProcessed {
			t.Fatalf("store: %v %v", res, err)
		}
		return res.Message.ItemHash
	}
	waitBalance(t, api, user.Address(), ether(1000))
	rtData, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	rt := store(user, rtData)
	code := store(owner, sandboxtest.Zip(map[string][]byte{"bin/server": progBin}, "bin/server"))
	content := func(name string) []byte {
		c := map[string]any{
			"type": "vm-function", "allow_amend": false, "address": owner.Address(),
			"time":        float64(time.Now().UnixMilli()) / 1000,
			"code":        map[string]any{"encoding": "zip", "entrypoint": "bin/server", "ref": code, "use_latest": false},
			"runtime":     map[string]any{"ref": rt, "use_latest": true, "comment": ""},
			"on":          map[string]any{"http": true},
			"environment": map[string]any{"internet": false},
			"resources":   map[string]any{"vcpus": 1, "memory": 128, "seconds": 10},
			"metadata":    map[string]any{"name": name},
		}
		b, _ := json.Marshal(c)
		return b
	}
	publish := func(b []byte) (*message.Message, client.Status) {
		t.Helper()
		m, err := message.NewInline(owner, message.TypeProgram, "TEST", string(b), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		st, err := api.Submit(t.Context(), m, true)
		var ae *client.Error
		if err != nil && !errors.As(err, &ae) {
			t.Fatalf("submit: %v", err)
		}
		return m, settled(t, api, m.ItemHash, st)
	}
	price, err := api.EstimatePrice(t.Context(), message.TypeProgram, content("estimate"))
	if err != nil || !price.Quota || price.PaymentType != "hold" {
		t.Fatalf("estimate %+v %v: want a hold price from a node with quotas", price, err)
	}
	cost := amount(t, price.Cost)
	if cost.Sign() <= 0 {
		t.Fatalf("program costs %s", price.Cost)
	}
	t.Logf("a program costs %s ALEPH (hold)", balances.FormatAmount(cost))

	// No ALEPH: rejected with code 5 and the amounts.
	m, st := publish(content("first"))
	if st != client.StatusRejected {
		t.Fatalf("PROGRAM of an owner without ALEPH: %s, want rejected", st)
	}
	res, err := api.Message(t.Context(), m.ItemHash)
	if err != nil {
		t.Fatal(err)
	}
	if res.ErrorCode == nil || *res.ErrorCode != message.CodeBalanceInsufficient {
		t.Fatalf("rejection code %v, want %d (BALANCE_INSUFFICIENT)", res.ErrorCode, message.CodeBalanceInsufficient)
	}
	var details struct {
		Required json.Number `json:"required_balance"`
		Balance  json.Number `json:"account_balance"`
	}
	if err := json.Unmarshal(res.Details, &details); err != nil {
		t.Fatalf("details %s: %v", res.Details, err)
	}
	if amount(t, details.Required.String()).Cmp(cost) != 0 || amount(t, details.Balance.String()).Sign() != 0 {
		t.Fatalf("details %s, want required_balance %s and account_balance 0", res.Details, balances.FormatAmount(cost))
	}

	// A transfer on the chain tops the owner up (for two programs): the
	// same upload, again (a new message: the rejection stands), is
	// processed.
	two := new(big.Int).Mul(cost, big.NewInt(2))
	if err := ch.Transfer(t.Context(), ch.UserKey, ownerAddr, two); err != nil {
		t.Fatal(err)
	}
	waitBalance(t, api, owner.Address(), two)
	older, st := publish(content("first"))
	if st != client.StatusProcessed {
		t.Fatalf("PROGRAM after the top-up: %s, want processed", st)
	}
	call(t, nw, older.ItemHash, http.StatusOK)
	newer, st := publish(content("second"))
	if st != client.StatusProcessed {
		t.Fatalf("second PROGRAM: %s", st)
	}
	call(t, nw, newer.ItemHash, http.StatusOK)
	if _, st := publish(content("beyond")); st != client.StatusRejected {
		t.Fatalf("third PROGRAM beyond the balance: %s, want rejected", st)
	}

	// A program forgotten: its execution stops, and it is gone for good.
	res2, err := api.Forget(t.Context(), owner, client.ForgetParams{Hashes: []string{older.ItemHash}, Sync: true})
	if err != nil || res2.Status != client.StatusProcessed {
		t.Fatalf("forget: %v %v", res2, err)
	}
	waitExecutions(t, nw, func(running map[string]bool) bool { return !running[older.ItemHash] && running[newer.ItemHash] })
	call(t, nw, older.ItemHash, http.StatusGone)

	// A third program, paid by what the forgotten one held (a FORGET ends
	// what a message holds); then the owner
	// moves away a little less than one program's cost: the balance
	// covers one program, the newest is stopped.
	third, st := publish(content("fourth"))
	if st != client.StatusProcessed {
		t.Fatalf("PROGRAM paid by the forgotten one's hold: %s", st)
	}
	call(t, nw, third.ItemHash, http.StatusOK)
	away := new(big.Int).Sub(cost, big.NewInt(1))
	if err := ch.Transfer(t.Context(), dc.Accounts()[1].KeyHex(), ch.User, away); err != nil {
		t.Fatal(err)
	}
	waitBalance(t, api, owner.Address(), new(big.Int).Sub(two, away))
	waitExecutions(t, nw, func(running map[string]bool) bool { return !running[third.ItemHash] })
	running := executions(t, nw)
	if !running[newer.ItemHash] {
		t.Errorf("executions %v: the older program, still paid for, was stopped too", running)
	}
	if got := metric(t, nw, `aleph_crn_payment_stops_total{reason="insufficient_balance"}`); got != "1" {
		t.Errorf("stops for balance: %s, want 1", got)
	}
	call(t, nw, third.ItemHash, http.StatusPaymentRequired)

	// Topped up again, the stopped program may run again.
	if err := ch.Transfer(t.Context(), ch.UserKey, ownerAddr, away); err != nil {
		t.Fatal(err)
	}
	waitBalance(t, api, owner.Address(), two)
	deadline := time.Now().Add(paymentWait)
	for {
		resp, body := testhttp.Get(t, httpClient, nw.ComputeURL()+"/vm/"+third.ItemHash+"/echo")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusPaymentRequired || time.Now().After(deadline) {
			t.Fatalf("program after the owner paid again: %d %s", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settled waits until the node's status for hash is not pending and
// returns it (st: what the submission answered). A balance rejection is
// retried until the token followers have read past the message's time.
func settled(t *testing.T, api *client.Client, hash string, st client.Status) client.Status {
	t.Helper()
	deadline := time.Now().Add(paymentWait)
	for {
		res, err := api.Message(t.Context(), hash)
		if err != nil {
			t.Fatalf("message %s after submit (%s): %v", hash, st, err)
		}
		if res.Status != client.StatusPending {
			return res.Status
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s still pending after %s", hash, paymentWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ether(n int64) *big.Int {
	return new(big.Int).Mul(big.NewInt(n), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))
}

func amount(t *testing.T, s string) *big.Int {
	t.Helper()
	v, err := balances.ParseAmount(s)
	if err != nil {
		t.Fatalf("amount %q: %v", s, err)
	}
	return v
}

// waitBalance waits until the node reports want as address's balance.
func waitBalance(t *testing.T, api *client.Client, address string, want *big.Int) {
	t.Helper()
	deadline := time.Now().Add(paymentWait)
	for {
		b, err := api.Balance(t.Context(), address, "")
		if err != nil {
			t.Fatal(err)
		}
		if amount(t, b.Balance.String()).Cmp(want) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("balance of %s: %s, want %s", address, b.Balance, balances.FormatAmount(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call requests the program through the compute node and checks the
// status.
func call(t *testing.T, nw *devnet.Network, hash string, status int) {
	t.Helper()
	resp, body := testhttp.Get(t, httpClient, nw.ComputeURL()+"/vm/"+hash+"/echo")
	if resp.StatusCode != status {
		t.Fatalf("program %s: %d %s, want %d", hash, resp.StatusCode, body, status)
	}
}

// executions returns the compute node's running executions.
func executions(t *testing.T, nw *devnet.Network) map[string]bool {
	t.Helper()
	resp, body := testhttp.Get(t, httpClient, nw.ComputeURL()+"/about/executions/list")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("executions list: %d %s", resp.StatusCode, body)
	}
	var list map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("executions list %s: %v", body, err)
	}
	out := map[string]bool{}
	for h := range list {
		out[h] = true
	}
	return out
}

// waitExecutions waits until ok holds of the running executions.
func waitExecutions(t *testing.T, nw *devnet.Network, ok func(map[string]bool) bool) {
	t.Helper()
	deadline := time.Now().Add(paymentWait)
	for {
		running := executions(t, nw)
		if ok(running) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("executions %v after %v", running, paymentWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric returns the value of a sample of the compute node's /metrics.
func metric(t *testing.T, nw *devnet.Network, sample string) string {
	t.Helper()
	_, body := testhttp.Get(t, httpClient, nw.ComputeURL()+"/metrics")
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, sample+" "); ok {
			return v
		}
	}
	return fmt.Sprintf("none (%s)", sample)
}
