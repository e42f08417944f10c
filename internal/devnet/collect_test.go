package devnet_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
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
	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/testhttp"
	"github.com/goaleph/goaleph/message"
)

// collectGrace is the devnet's economy.collect_grace in the collection
// test: longer than the few chain transfers between an owner's balance
// falling and returning take on a loaded machine, since the grace is
// counted in block time.
const collectGrace = 30 * time.Second

// collectWait bounds each wait of the collection test: uploads of 26 MiB
// files reaching every node, a node syncing the whole log, transfers
// read after a block and a confirmation (1 s blocks).
const collectWait = 4 * time.Minute

// TestCollectionOnDevnet is the economy's acceptance on a devnet: two core
// nodes and a compute node enforcing quotas, balances from the ALEPH
// token's transfers on the chain, collection grace 30 s of log time.
//
//   - Before they are funded, owner B's STORE and owner A's PROGRAM are
//     rejected with BALANCE_INSUFFICIENT.
//   - A, funded by a transfer, stores three paid STOREs (26 MiB files, over
//     the free 25 MiB) and a PROGRAM that runs on the compute node; B,
//     funded, stores one STORE (of the file of A's newest STORE).
//   - A moves its tokens away but for what its oldest STORE holds; B moves
//     most away: A's three newest messages and B's STORE become removing
//     on both nodes, and the compute node stops A's program.
//   - B gets tokens back before the grace ends: its STORE is processed
//     again while A's are still removing.
//   - A fresh core node joins and rebuilds the log from its peers and the
//     chain.
//   - Token transfers move the log clock past the grace (the clock is
//     the latest block time of a balance change or confirmation, never a
//     node's clock): on every node A's newest messages are removed
//     (balance_insufficient), the file only A's removed STORE pinned is
//     gone from every node's disk and API while the file B still pins
//     stays, and A's program does not run.
//   - Every node reports the same status, reason and removal position
//     for every message as node 0 did before the replay; the rejected
//     messages given to the new node are rejected there too, with the
//     same code, and the others' rejections stand.
func TestCollectionOnDevnet(t *testing.T) {
	start := time.Now()
	step := func(what string) { t.Logf("%s: %s", time.Since(start).Round(100*time.Millisecond), what) }
	image, progPath := debianRuntime(t)
	progBin, err := os.ReadFile(progPath)
	if err != nil {
		t.Fatal(err)
	}
	// One-second blocks: block times then follow the wall clock, as
	// message times do (the chain's timestamps step a second per block).
	dc, err := devchain.New(devchain.Config{BlockInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	nw, err := devnet.Start(t.Context(), devnet.Config{Nodes: 2, Compute: true, ComputePaymentInterval: 300 * time.Millisecond,
		CollectGrace: collectGrace, CollectPeriod: 500 * time.Millisecond,
		NodeConfig: func(i int, c *node.Config) {
			// Uploads keep their file for 10 s, and the garbage collector
			// runs every 2 s: the files of removed STOREs go within the test.
			c.GracePeriod, c.GCPeriod = 10*time.Second, 2*time.Second
		},
		// No batches on the chain during the test (confirmations would
		// move the log clock too): the test moves it with transfers.
		Chain: &devnet.ChainConfig{RPC: dc.URL(), FundedKey: dc.Accounts()[0].KeyHex(), CommitDelay: time.Hour,
			PollInterval: 100 * time.Millisecond, Confirmations: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	step("devnet ready")
	ch := nw.Chain()
	api := client.New(nw.Nodes()[0].APIURL())
	user, err := eth.AccountFromHex(ch.UserKey)
	if err != nil {
		t.Fatal(err)
	}
	keyA, keyB := dc.Accounts()[1].KeyHex(), dc.Accounts()[2].KeyHex()
	a, err := eth.AccountFromHex(keyA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := eth.AccountFromHex(keyB)
	if err != nil {
		t.Fatal(err)
	}
	addrA, addrB := common.HexToAddress(a.Address()), common.HexToAddress(b.Address())
	sink := dc.Accounts()[3].Address // where tokens go, and the clock's transfers
	nodes := func() []*devnet.Node { return nw.Nodes() }
	// balanceEverywhere waits until every node reports want for address:
	// admission reads each node's own balance history.
	balanceEverywhere := func(address string, want *big.Int) {
		t.Helper()
		for _, n := range nodes() {
			waitBalance(t, client.New(n.APIURL()), address, want)
		}
	}
	transfer := func(fromKey string, to common.Address, v *big.Int) {
		t.Helper()
		if err := ch.Transfer(t.Context(), fromKey, to, v); err != nil {
			t.Fatal(err)
		}
	}
	var log []*message.Message // every message posted, in order
	store := func(s *eth.Account, data []byte, want client.Status) *message.Message {
		t.Helper()
		res, err := api.Store(t.Context(), s, bytes.NewReader(data), client.StoreParams{Sync: true})
		if res == nil {
			t.Fatalf("store: %v", err)
		}
		log = append(log, res.Message)
		if st := settled(t, api, res.Message.ItemHash, res.Status); st != want {
			t.Fatalf("STORE %s: %s (%v), want %s", res.Message.ItemHash, st, err, want)
		}
		return res.Message
	}
	submit := func(m *message.Message, want client.Status) {
		t.Helper()
		log = append(log, m)
		st, err := api.Submit(t.Context(), m, true)
		var ae *client.Error
		if err != nil && !errors.As(err, &ae) {
			t.Fatalf("submit: %v", err)
		}
		if got := settled(t, api, m.ItemHash, st); got != want {
			t.Fatalf("%s %s after submit (%s): %s, want %s", m.Type, m.ItemHash, st, got, want)
		}
	}
	paidFile := func(fill byte) []byte {
		return bytes.Repeat([]byte{fill}, int(economy.FreeStoreBytes)+economy.MiB)
	}
	f1, f2, shared := paidFile(1), paidFile(2), paidFile(3)

	// The runtime, the funded user's; the program's code, A's (small: free).
	waitBalance(t, api, user.Address(), ether(1000))
	rtData, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	store(user, rtData, client.StatusProcessed)
	rt := log[len(log)-1].ItemHash
	code := store(a, sandboxtest.Zip(map[string][]byte{"bin/server": progBin}, "bin/server"), client.StatusProcessed).ItemHash
	program := func(name string) *message.Message {
		c := map[string]any{
			"type": "vm-function", "allow_amend": false, "address": a.Address(),
			"time":        float64(time.Now().UnixMilli()) / 1000,
			"code":        map[string]any{"encoding": "zip", "entrypoint": "bin/server", "ref": code, "use_latest": false},
			"runtime":     map[string]any{"ref": rt, "use_latest": true, "comment": ""},
			"on":          map[string]any{"http": true},
			"environment": map[string]any{"internet": false},
			"resources":   map[string]any{"vcpus": 1, "memory": 128, "seconds": 10},
			"metadata":    map[string]any{"name": name},
		}
		raw, _ := json.Marshal(c)
		m, err := message.NewInline(a, message.TypeProgram, "TEST", string(raw), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	price := func(m *message.Message) *big.Int {
		t.Helper()
		p, err := api.MessagePrice(t.Context(), m.ItemHash)
		if err != nil || !p.Quota || p.PaymentType != "hold" {
			t.Fatalf("price of %s: %+v %v", m.ItemHash, p, err)
		}
		return amount(t, p.Cost)
	}

	step("runtime and code stored")
	// Unfunded: B's STORE and A's PROGRAM are rejected for balance.
	bRejected := store(b, shared, client.StatusRejected)
	aRejected := program("unfunded")
	submit(aRejected, client.StatusRejected)
	for _, m := range []*message.Message{bRejected, aRejected} {
		res, err := api.Message(t.Context(), m.ItemHash)
		if err != nil || res.ErrorCode == nil || *res.ErrorCode != message.CodeBalanceInsufficient {
			t.Fatalf("%s of an unfunded owner: %+v %v, want code %d", m.Type, res, err, message.CodeBalanceInsufficient)
		}
	}

	// (a) A and B funded by transfers; A stores three STOREs and a
	// PROGRAM, B one STORE of the file of A's newest STORE.
	est, err := api.EstimatePrice(t.Context(), message.TypeProgram, json.RawMessage(aRejected.ItemContent))
	if err != nil {
		t.Fatal(err)
	}
	fundA := new(big.Int).Add(amount(t, est.Cost), ether(40)) // a STORE holds about 8.67 ALEPH
	fundB := ether(20)
	transfer(ch.UserKey, addrA, fundA)
	transfer(ch.UserKey, addrB, fundB)
	balanceEverywhere(a.Address(), fundA)
	balanceEverywhere(b.Address(), fundB)
	step("A and B funded")
	s1 := store(a, f1, client.StatusProcessed)
	s2 := store(a, f2, client.StatusProcessed)
	s3 := store(a, shared, client.StatusProcessed)
	prog := program("paid")
	submit(prog, client.StatusProcessed)
	bs := store(b, shared, client.StatusProcessed)
	storeCost := price(s1)
	for _, m := range []*message.Message{s2, s3, bs} {
		if c := price(m); c.Cmp(storeCost) != 0 {
			t.Fatalf("STORE %s costs %s, want %s as the others", m.ItemHash, c, storeCost)
		}
	}
	t.Logf("a 26 MiB STORE holds %s ALEPH, the program %s", balances.FormatAmount(storeCost), balances.FormatAmount(price(prog)))
	step("messages stored")
	call(t, nw, prog.ItemHash, http.StatusOK)
	live := []*message.Message{s1, s2, s3, prog, bs}
	waitStatuses(t, nw, live, client.StatusProcessed)
	step("processed on both nodes, the program runs")

	// (b) A keeps what its oldest STORE holds; B keeps half of what its
	// STORE holds.
	keptB := new(big.Int).Div(storeCost, big.NewInt(2))
	transfer(keyA, sink, new(big.Int).Sub(fundA, storeCost))
	transfer(keyB, sink, new(big.Int).Sub(fundB, keptB))
	balanceEverywhere(a.Address(), storeCost)
	balanceEverywhere(b.Address(), keptB)
	waitStatuses(t, nw, []*message.Message{s1}, client.StatusProcessed)
	waitStatuses(t, nw, []*message.Message{s2, s3, prog, bs}, client.StatusRemoving)
	waitExecutions(t, nw, func(running map[string]bool) bool { return !running[prog.ItemHash] })
	step("removing on both nodes, the program stopped")

	// (c) Before A's grace ends, B gets its tokens back: its STORE is
	// processed again, A's are still removing.
	transfer(ch.UserKey, addrB, new(big.Int).Sub(fundB, keptB))
	balanceEverywhere(b.Address(), fundB)
	waitStatuses(t, nw, []*message.Message{s1, bs}, client.StatusProcessed)
	waitStatuses(t, nw, []*message.Message{s2, s3, prog}, client.StatusRemoving)

	// (f, first half) A fresh node joins: it rebuilds the log from its
	// peers (sync) and the balances from the chain, and must decide
	// every message as the others.
	fresh, err := nw.AddNode(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	step(fmt.Sprintf("node %d joined", fresh.Index()))
	waitStatuses(t, nw, []*message.Message{s1, bs}, client.StatusProcessed)
	waitStatuses(t, nw, []*message.Message{s2, s3, prog}, client.StatusRemoving)
	step("the new node agrees")

	// (d) Transfers of a token unit move the log clock (their blocks'
	// times) past the grace: A's newest messages are removed everywhere.
	deadline := time.Now().Add(collectWait)
	for !statusesAre(t, nw, []*message.Message{s2, s3, prog}, client.StatusRemoved) {
		if time.Now().After(deadline) {
			t.Fatalf("A's newest messages not removed on every node after %s", collectWait)
		}
		transfer(ch.UserKey, sink, big.NewInt(1))
	}
	step("removed on every node")
	waitStatuses(t, nw, []*message.Message{s1, bs}, client.StatusProcessed)
	for _, n := range nodes() {
		for _, m := range []*message.Message{s2, s3, prog} {
			res, err := client.New(n.APIURL()).Message(t.Context(), m.ItemHash)
			if err != nil || res.Reason != "balance_insufficient" || res.Message == nil {
				t.Errorf("node %d: removed %s: %+v %v, want reason balance_insufficient and the message", n.Index(), m.Type, res, err)
			}
		}
	}
	// The file only s2 pinned is deleted on every node; the one B's STORE
	// still pins (s3's) and s1's stay.
	fileHash := func(m *message.Message) string {
		var c struct {
			ItemHash string `json:"item_hash"`
		}
		if err := json.Unmarshal([]byte(m.ItemContent), &c); err != nil {
			t.Fatal(err)
		}
		return c.ItemHash
	}
	for _, n := range nodes() {
		waitFile(t, n, fileHash(s2), false)
		for _, m := range []*message.Message{s1, bs} {
			waitFile(t, n, fileHash(m), true)
		}
	}
	// A's program does not run: removed, the compute node neither keeps
	// nor starts it.
	waitExecutions(t, nw, func(running map[string]bool) bool { return !running[prog.ItemHash] })
	resp, body := testhttp.Get(t, httpClient, nw.ComputeURL()+"/vm/"+prog.ItemHash+"/echo")
	if resp.StatusCode == http.StatusOK {
		t.Errorf("removed program answered: %d %s", resp.StatusCode, body)
	}

	// (e, f) Every node, the new one included, reports the same status
	// for every message. The rejected ones never reach the new node by
	// sync (they are not in the log): given to it, it rejects them too,
	// with the same code.
	// (what node 0 reports now is the reference: a replay that changed
	// it, say a rejected message the new node admits and gossips back, is
	// a difference too)
	want := map[string]messageView{}
	for _, m := range log {
		want[m.ItemHash] = view(t, nodes()[0], m)
	}
	for _, m := range []*message.Message{bRejected, aRejected} {
		if v := want[m.ItemHash]; v.Status != client.StatusRejected || v.Code != message.CodeBalanceInsufficient.String() {
			t.Fatalf("%s %s on node 0: %+v, want rejected for balance", m.Type, m.ItemHash, v)
		}
	}
	freshAPI := client.New(fresh.APIURL())
	for _, m := range []*message.Message{bRejected, aRejected} {
		// (the answer may be pending: the node retries what waits for
		// a dependency; the status it settles on is compared below)
		if st, err := freshAPI.Submit(t.Context(), m, true); st != client.StatusRejected {
			t.Logf("%s %s given to the new node: %s %v", m.Type, m.ItemHash, st, err)
		}
	}
	deadline = time.Now().Add(collectWait)
	for _, m := range []*message.Message{bRejected, aRejected} {
		for view(t, fresh, m).Status == client.StatusPending && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, m := range log {
		want := want[m.ItemHash]
		for _, n := range nodes() {
			got := view(t, n, m)
			// (node 1 may not know a message node 0 rejected: rejected
			// messages are not gossiped on)
			if got != want && !(want.Status == client.StatusRejected && got.Status == "unknown" && n.Index() == 1) {
				t.Errorf("%s %s: node %d %+v, node 0 before the replay %+v", m.Type, m.ItemHash, n.Index(), got, want)
			}
		}
	}
	step("done")
}

// messageView is what a node reports of a message, compared between nodes.
type messageView struct {
	Status    client.Status
	Code      string // rejected: the error code
	Reason    string // removing or removed
	RemovedAt float64
}

// view returns what node n reports of m ("unknown": not found).
func view(t *testing.T, n *devnet.Node, m *message.Message) messageView {
	t.Helper()
	res, err := client.New(n.APIURL()).Message(t.Context(), m.ItemHash)
	if errors.Is(err, client.ErrNotFound) {
		return messageView{Status: "unknown"}
	}
	if err != nil {
		t.Fatalf("node %d: message %s: %v", n.Index(), m.ItemHash, err)
	}
	v := messageView{Status: res.Status, Reason: res.Reason}
	if res.ErrorCode != nil {
		v.Code = res.ErrorCode.String()
	}
	var extra struct {
		RemovedAt float64 `json:"removed_at"`
	}
	_ = json.Unmarshal(res.Raw, &extra)
	v.RemovedAt = extra.RemovedAt
	return v
}

// statusesAre tells whether every node reports status st for every message.
func statusesAre(t *testing.T, nw *devnet.Network, ms []*message.Message, st client.Status) bool {
	t.Helper()
	for _, n := range nw.Nodes() {
		for _, m := range ms {
			if view(t, n, m).Status != st {
				return false
			}
		}
	}
	return true
}

// waitStatuses waits until every node reports status st for every message.
func waitStatuses(t *testing.T, nw *devnet.Network, ms []*message.Message, st client.Status) {
	t.Helper()
	deadline := time.Now().Add(collectWait)
	for !statusesAre(t, nw, ms, st) {
		if time.Now().After(deadline) {
			var got []string
			for _, n := range nw.Nodes() {
				for _, m := range ms {
					got = append(got, fmt.Sprintf("%s %s on node %d: %s", m.Type, m.ItemHash, n.Index(), view(t, n, m).Status))
				}
			}
			t.Fatalf("after %s, want %s:\n%s", collectWait, st, strings.Join(got, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFile waits until node n holds the file hash (on disk and through
// /api/v0/storage/raw) or, with present false, has deleted it.
func waitFile(t *testing.T, n *devnet.Node, hash string, present bool) {
	t.Helper()
	deadline := time.Now().Add(collectWait)
	for {
		resp, err := httpClient.Head(n.APIURL() + "/api/v0/storage/raw/" + hash)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		onDisk := fileOnDisk(t, n, hash)
		if present && resp.StatusCode == http.StatusOK && onDisk ||
			!present && resp.StatusCode == http.StatusNotFound && !onDisk {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d: file %s: raw %d, on disk %v; want present %v", n.Index(), hash, resp.StatusCode, onDisk, present)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fileOnDisk tells whether a file named for hash is in node n's file store.
func fileOnDisk(t *testing.T, n *devnet.Node, hash string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(filepath.Join(n.DataDir(), "files"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted during the walk
			}
			return err
		}
		if strings.Contains(d.Name(), hash) {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
