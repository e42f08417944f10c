package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/chain/devchain"
	"github.com/goaleph/goaleph/internal/chain/ethcontracts"
	"github.com/goaleph/goaleph/internal/chain/ethreader"
	"github.com/goaleph/goaleph/internal/chain/packer"
	"github.com/goaleph/goaleph/internal/testhttp"
	"github.com/goaleph/goaleph/message"
)

// chainCommitDelay is the packer's commit delay in the chain tests: a
// message must be confirmed within two of them. The messages are posted
// just after the packer started, so they wait about one commit delay for
// its first batch; the rest of the path (a block every 100 ms, one
// confirmation, polls every 100 ms) took 0.3 s at a load of 26 on two
// cores, and up to 3.3 s: the second commit delay leaves it 8 s.
const chainCommitDelay = 8 * time.Second

// chainNet starts a two-node devnet on an in-process dev chain and returns
// it with the chain.
func chainNet(t *testing.T) (*Network, *devchain.Chain) {
	t.Helper()
	dc, err := devchain.New(devchain.Config{BlockInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	nw := start(t, Config{Nodes: 2, Chain: &ChainConfig{RPC: dc.URL(), FundedKey: dc.Accounts()[0].KeyHex(),
		CommitDelay: chainCommitDelay, PollInterval: 100 * time.Millisecond, Confirmations: 1}})
	return nw, dc
}

// TestChainConfirmed: on a devnet with a chain, posted messages report
// confirmed: true with the transaction hash and height of the packer's
// SyncEvent within two commit delays, on every node; the event's archive is
// downloadable by CID from every node and has exactly the format of spec
// core-node §7.1.
func TestChainConfirmed(t *testing.T) {
	nw, dc := chainNet(t)
	c := nw.Chain()
	if c == nil || c.SyncContract == (common.Address{}) || c.Token == (common.Address{}) {
		t.Fatalf("Chain() = %+v, want the deployed contracts", c)
	}
	a := ethtest.Account(t)
	msgs := []*message.Message{post(t, a, "one"), post(t, a, "two"), post(t, a, "three")}
	api := client.New(nw.Nodes()[1].APIURL())
	posted := time.Now()
	for _, m := range msgs {
		if st, err := api.Submit(t.Context(), m, true); err != nil || st != client.StatusProcessed {
			t.Fatalf("post: %v, %v", st, err)
		}
	}
	var confs []map[string]confirmation // by node
	for _, n := range nw.Nodes() {
		confs = append(confs, waitConfirmed(t, n, msgs))
		elapsed := time.Since(posted)
		t.Logf("node %d: confirmed %v after the first post (commit delay %v)", n.Index(), elapsed.Round(time.Millisecond), chainCommitDelay)
		if elapsed > 2*chainCommitDelay {
			t.Errorf("node %d: confirmed after %v, want within two commit delays (%v)", n.Index(), elapsed, 2*chainCommitDelay)
		}
	}

	// The confirmations name the packer's SyncEvents; their archives hold
	// exactly the posted messages, in the spec's format.
	logs, err := dc.Client().FilterLogs(t.Context(), ethereum.FilterQuery{FromBlock: new(big.Int).SetUint64(c.SyncHeight),
		Addresses: []common.Address{c.SyncContract}})
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) == 0 {
		t.Fatal("no SyncEvent on the sync contract")
	}
	var archived []*message.Message
	for _, l := range logs {
		ev, err := ethcontracts.NewAlephSync().UnpackSyncEventEvent(&l)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Addr != c.Packer {
			t.Fatalf("SyncEvent from %s, want the packer %s", ev.Addr, c.Packer)
		}
		p, err := ethreader.ParseSyncMessage([]byte(ev.Message))
		if err != nil || p.Protocol != ethreader.ProtocolOffchain {
			t.Fatalf("SyncEvent payload %q: %+v, %v", ev.Message, p, err)
		}
		var first []byte
		for _, n := range nw.Nodes() {
			b := get(t, n.APIURL()+"/api/v0/storage/raw/"+p.CID.String())
			if first != nil && !bytes.Equal(b, first) {
				t.Fatalf("node %d serves another archive %s", n.Index(), p.CID)
			}
			first = b
		}
		ms := checkArchive(t, first)
		for _, m := range ms {
			if !slices.ContainsFunc(msgs, func(x *message.Message) bool { return *x == *m }) {
				t.Fatalf("archive %s holds %+v, which is not a posted message", p.CID, m)
			}
			if slices.ContainsFunc(archived, func(x *message.Message) bool { return x.ItemHash == m.ItemHash }) {
				t.Fatalf("message %s is in two archives", m.ItemHash)
			}
			want := confirmation{Chain: "ETH", Hash: l.TxHash.Hex(), Height: l.BlockNumber}
			for i, cs := range confs {
				if got := cs[m.ItemHash]; got != want {
					t.Errorf("node %d: confirmation of %s = %+v, want %+v", i, m.ItemHash, got, want)
				}
			}
		}
		archived = append(archived, ms...)
	}
	if len(archived) != len(msgs) {
		t.Errorf("%d of the %d posted messages archived", len(archived), len(msgs))
	}
}

// confirmation is an entry of a message's confirmations in the API.
type confirmation struct {
	Chain  string `json:"chain"`
	Hash   string `json:"hash"`
	Height uint64 `json:"height"`
}

// waitConfirmed waits until GET /api/v0/messages/{hash} on n reports each
// message of msgs confirmed with one confirmation, and returns them.
func waitConfirmed(t *testing.T, n *Node, msgs []*message.Message) map[string]confirmation {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	out := map[string]confirmation{}
	for _, m := range msgs {
		waitStatus(t, n, m.ItemHash, client.StatusProcessed) // gossiped from the node it was posted to
		for {
			var r struct {
				Message struct {
					Confirmed     bool           `json:"confirmed"`
					Confirmations []confirmation `json:"confirmations"`
				} `json:"message"`
			}
			if err := json.Unmarshal(get(t, n.APIURL()+"/api/v0/messages/"+m.ItemHash), &r); err != nil {
				t.Fatal(err)
			}
			cs := r.Message.Confirmations
			if r.Message.Confirmed != (len(cs) > 0) {
				t.Fatalf("node %d: message %s: confirmed %v with confirmations %+v", n.Index(), m.ItemHash, r.Message.Confirmed, cs)
			}
			if len(cs) > 1 {
				t.Fatalf("node %d: message %s confirmed %d times: %+v", n.Index(), m.ItemHash, len(cs), cs)
			}
			if len(cs) == 1 {
				out[m.ItemHash] = cs[0]
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d: message %s not confirmed after %v", n.Index(), m.ItemHash, waitTimeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out
}

// checkArchive checks that b is an archive exactly as spec core-node §7.1
// writes it: {"protocol":"aleph","version":1,"content":{"messages":[…]}},
// each message with the keys sender, chain, signature, type, item_content,
// item_type, item_hash, time (a number), channel and no other, and returns
// its messages.
func checkArchive(t *testing.T, b []byte) []*message.Message {
	t.Helper()
	keys, fields := object(t, b)
	if !slices.Equal(keys, []string{"protocol", "version", "content"}) {
		t.Fatalf("archive keys %v, want protocol, version, content: %s", keys, b)
	}
	if string(fields["protocol"]) != `"aleph"` || string(fields["version"]) != "1" {
		t.Fatalf("archive protocol %s version %s, want \"aleph\" 1", fields["protocol"], fields["version"])
	}
	keys, content := object(t, fields["content"])
	if !slices.Equal(keys, []string{"messages"}) {
		t.Fatalf("archive content keys %v, want messages", keys)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(content["messages"], &raws); err != nil {
		t.Fatal(err)
	}
	want := []string{"sender", "chain", "signature", "type", "item_content", "item_type", "item_hash", "time", "channel"}
	var out []*message.Message
	for _, raw := range raws {
		keys, f := object(t, raw)
		if !slices.Equal(keys, want) {
			t.Fatalf("archived message keys %v, want %v", keys, want)
		}
		var tm json.Number
		if err := json.Unmarshal(f["time"], &tm); err != nil {
			t.Fatalf("archived time %s is not a number", f["time"])
		}
		m, err := message.Parse(raw)
		if err != nil {
			t.Fatalf("archived message %s: %v", raw, err)
		}
		if ft, _ := tm.Float64(); ft != m.Time {
			t.Fatalf("archived time %s parsed as %v", tm, m.Time)
		}
		out = append(out, m)
	}
	return out
}

// object decodes the JSON object b and returns its keys in order and its
// fields; duplicate keys fail the test.
func object(t *testing.T, b []byte) ([]string, map[string]json.RawMessage) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %.200s", b)
	}
	var keys []string
	fields := map[string]json.RawMessage{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		k := tok.(string)
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if _, dup := fields[k]; dup {
			t.Fatalf("key %q twice in %.200s", k, b)
		}
		keys = append(keys, k)
		fields[k] = v
	}
	return keys, fields
}

// get returns the body of a GET answered 200.
func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, body := testhttp.Get(t, nil, url)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	return []byte(body)
}

// TestChainBalance: the devnet's user account holds the ALEPH minted to
// it, and tokens it transfers on the chain appear in /balance of every node
// once the followers have polled past the transfer's block.
func TestChainBalance(t *testing.T) {
	nw, _ := chainNet(t)
	c := nw.Chain()
	for _, n := range nw.Nodes() {
		waitBalance(t, n, c.User.Hex(), "1000.0")
	}
	key, err := packer.ParseKey(c.UserKey)
	if err != nil {
		t.Fatal(err)
	}
	to := common.HexToAddress(ethtest.Account(t).Address())
	for _, n := range nw.Nodes() {
		waitBalance(t, n, to.Hex(), "0.0")
	}
	cl, err := ethclient.DialContext(t.Context(), c.RPC)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	amount := new(big.Int).Add(new(big.Int).Mul(big.NewInt(125), new(big.Int).Exp(big.NewInt(10), big.NewInt(17), nil)), big.NewInt(1))
	opts := bind.NewKeyedTransactor(key, c.ChainID)
	opts.Context = t.Context()
	token := ethcontracts.NewAlephToken()
	tx, err := bind.Transact(token.Instance(cl, c.Token), opts, token.PackTransfer(to, amount))
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if _, err := mined(t.Context(), cl, tx); err != nil {
		t.Fatal(err)
	}
	for _, n := range nw.Nodes() {
		waitBalance(t, n, to.Hex(), "12.500000000000000001")
		waitBalance(t, n, c.User.Hex(), "987.499999999999999999")
		t.Logf("node %d: balances updated %v after the transfer was sent (poll interval %v)", n.Index(),
			time.Since(sent).Round(time.Millisecond), c.PollInterval)
	}
}

// waitBalance waits until node n's /balance of address is want (the
// exact decimal the API writes).
func waitBalance(t *testing.T, n *Node, address, want string) {
	t.Helper()
	api := client.New(n.APIURL())
	deadline := time.Now().Add(waitTimeout)
	for {
		b, err := api.Balance(context.Background(), address, "")
		if err != nil {
			t.Fatal(err)
		}
		if b.Balance.String() == want {
			if want != "0.0" && b.Details["ETH"].String() != want {
				t.Fatalf("node %d: balance of %s %s, details %v", n.Index(), address, b.Balance, b.Details)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d: balance of %s is %s after %v, want %s", n.Index(), address, b.Balance, waitTimeout, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestChainProcessRestart: without an RPC the devnet runs the dev chain
// program (aleph-devchain, built here) with its blocks in the data
// directory; a restart on that directory goes on with the same chain, the
// same contracts and accounts, and the packer goes on anchoring.
func TestChainProcessRestart(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "aleph-devchain")
	build := exec.CommandContext(t.Context(), "go", "build", "-race", "-o", bin, "github.com/goaleph/goaleph/cmd/aleph-devchain")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build aleph-devchain: %v\n%s", err, out)
	}
	t.Setenv(DevchainEnv, bin)
	dir := t.TempDir()
	cfg := Config{Nodes: 1, DataDir: dir, Chain: &ChainConfig{CommitDelay: 2 * time.Second,
		PollInterval: 100 * time.Millisecond, BlockInterval: 100 * time.Millisecond}}
	a := ethtest.Account(t)
	nw, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := *nw.Chain()
	m1 := post(t, a, "before")
	if st, err := client.New(nw.Nodes()[0].APIURL()).Submit(t.Context(), m1, true); err != nil || st != client.StatusProcessed {
		t.Fatalf("post: %v, %v", st, err)
	}
	c1 := waitConfirmed(t, nw.Nodes()[0], []*message.Message{m1})[m1.ItemHash]
	if err := nw.Stop(); err != nil {
		t.Fatal(err)
	}
	cl, err := ethclient.Dial(first.RPC) // HTTP: no connection yet
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.BlockNumber(t.Context()); err == nil {
		t.Fatalf("the dev chain at %s still answers after Stop", first.RPC)
	}
	cl.Close()

	nw = start(t, cfg)
	again := nw.Chain()
	if again.SyncContract != first.SyncContract || again.Token != first.Token || again.UserKey != first.UserKey ||
		again.Packer != first.Packer || again.SyncHeight != first.SyncHeight {
		t.Fatalf("after a restart the chain is %+v, want %+v", again, first)
	}
	n := nw.Nodes()[0]
	if got := waitConfirmed(t, n, []*message.Message{m1})[m1.ItemHash]; got != c1 {
		t.Fatalf("confirmation after the restart %+v, want %+v", got, c1)
	}
	waitBalance(t, n, again.User.Hex(), "1000.0")
	m2 := post(t, a, "after")
	if st, err := client.New(n.APIURL()).Submit(t.Context(), m2, true); err != nil || st != client.StatusProcessed {
		t.Fatalf("post: %v, %v", st, err)
	}
	if c2 := waitConfirmed(t, n, []*message.Message{m2})[m2.ItemHash]; c2.Height <= c1.Height || c2.Hash == c1.Hash {
		t.Fatalf("confirmation of a message posted after the restart %+v, want a later transaction than %+v", c2, c1)
	}
}
