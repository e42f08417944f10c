package chainsync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/chain/chainsync"
	"github.com/goaleph/goaleph/internal/chain/devchain"
	"github.com/goaleph/goaleph/internal/chain/devchain/chaintest"
	"github.com/goaleph/goaleph/internal/chain/ethcontracts"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/lifecycle/lifecycletest"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/message"
)

// waitTimeout bounds every wait on a condition: generous for -race on
// loaded machines; a passing run takes a fraction of it.
const waitTimeout = 90 * time.Second

// harness is a dev chain with the sync contract and a core node whose
// chain sync service follows it.
type harness struct {
	t        *testing.T
	ctx      context.Context
	chain    *devchain.Chain
	contract common.Address
	role     *node.Role
	url      string

	stop       func()           // stops the running node
	rpc        string           // the RPC URL the node uses
	rpcTimeout time.Duration    // 0: the default
	token      node.TokenConfig // the node's token follower
}

// tx is an emitted transaction: its hash and block.
type tx struct {
	hash   string
	height uint64
	block  common.Hash
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := deploy(t)
	h.start(t.TempDir())
	return h
}

// deploy starts a dev chain with the sync contract; the node is not
// started yet.
func deploy(t *testing.T) *harness {
	t.Helper()
	ctx, c := chaintest.Start(t, 4*waitTimeout)
	addr, err := c.DeploySync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, ctx: ctx, chain: c, contract: addr, rpc: c.URL()}
}

// start runs a node in dataDir that reads the chain.
func (h *harness) start(dataDir string) {
	t := h.t
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	role, err := node.NewRole(h.ctx, node.RoleConfig{
		Node:     node.Config{DataDir: dataDir, Logger: log},
		NoP2P:    true,
		Listener: ln,
		Token:    h.token,
		Chain: chainsync.Config{
			RPC: h.rpc, SyncContract: h.contract.Hex(), RPCTimeout: h.rpcTimeout,
			Emitters:      []string{h.chain.Accounts()[0].Address.Hex()},
			Confirmations: 1, PollInterval: 50 * time.Millisecond, ArchiveTimeout: 5 * time.Second,
			RetryBase: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.stop = lifecycletest.Start(h.ctx, t, role, "role")
	t.Cleanup(h.stop)
	h.role, h.url = role, role.URL()
}

// emit calls doEmit(payload) from account from and returns its transaction.
func (h *harness) emit(from int, payload string) tx {
	h.t.Helper()
	return h.call(from, ethcontracts.NewAlephSync().PackDoEmit(payload))
}

// call sends a transaction of the sync contract from account from and
// waits until it is mined.
func (h *harness) call(from int, calldata []byte) tx {
	h.t.Helper()
	sync := ethcontracts.NewAlephSync()
	sent, err := sync.Instance(h.chain.Client(), h.contract).RawTransact(h.chain.Transactor(from), calldata)
	if err != nil {
		h.t.Fatal(err)
	}
	r, err := h.chain.Mined(h.ctx, sent)
	if err != nil {
		h.t.Fatal(err)
	}
	return tx{hash: r.TxHash.Hex(), height: r.BlockNumber.Uint64(), block: r.BlockHash}
}

// payload is the JSON of an inline payload or archive holding msgs.
func payload(t *testing.T, msgs ...*message.Message) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"protocol": "aleph", "version": 1, "content": map[string]any{"messages": msgs}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func pointer(cid string) string {
	return `{"protocol":"aleph-offchain","version":1,"content":"` + cid + `"}`
}

// post returns a signed inline POST.
func post(t *testing.T, a message.Signer, body string) *message.Message {
	t.Helper()
	now := time.Now()
	c := fmt.Sprintf(`{"type":"test","address":%q,"time":%d.5,"content":{"body":%q}}`, a.Address(), now.Unix(), body)
	m, err := message.NewInline(a, message.TypePost, "TEST", c, now)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type listed struct {
	ItemHash      string `json:"item_hash"`
	Confirmed     bool   `json:"confirmed"`
	Confirmations []struct {
		Chain  string `json:"chain"`
		Hash   string `json:"hash"`
		Height uint64 `json:"height"`
	} `json:"confirmations"`
}

// messages lists the processed messages among hashes from the API.
func (h *harness) messages(hashes ...string) map[string]listed {
	h.t.Helper()
	var page struct{ Messages []listed }
	h.getJSON("/api/v0/messages.json?hashes="+strings.Join(hashes, ","), &page)
	out := map[string]listed{}
	for _, m := range page.Messages {
		out[m.ItemHash] = m
	}
	return out
}

func (h *harness) getJSON(path string, v any) {
	h.t.Helper()
	body := h.get(path)
	if err := json.Unmarshal([]byte(body), v); err != nil {
		h.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

func (h *harness) get(path string) string {
	h.t.Helper()
	resp, err := http.Get(h.url + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

// waitFor polls cond until it holds.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitConfirmed waits until every message is processed and confirmed by
// its transaction, and checks the confirmation.
func (h *harness) waitConfirmed(want map[string]tx) {
	h.t.Helper()
	hashes := make([]string, 0, len(want))
	for hash := range want {
		hashes = append(hashes, hash)
	}
	var got map[string]listed
	h.waitFor(fmt.Sprintf("%d messages confirmed", len(want)), func() bool {
		got = h.messages(hashes...)
		for _, hash := range hashes {
			if !got[hash].Confirmed {
				return false
			}
		}
		return true
	})
	for hash, tx := range want {
		cs := got[hash].Confirmations
		if len(cs) != 1 || cs[0].Chain != "ETH" || cs[0].Hash != tx.hash || cs[0].Height != tx.height {
			h.t.Errorf("%s: confirmations %+v, want ETH %s at %d", hash, cs, tx.hash, tx.height)
		}
	}
}

func (h *harness) status(hash string) string {
	h.t.Helper()
	var st struct{ Status string }
	if body := h.get("/api/v0/messages/" + hash + "/status"); strings.Contains(body, `"status"`) {
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			h.t.Fatal(err)
		}
	}
	return st.Status
}

func (h *harness) metric(line string) bool {
	return strings.Contains(h.get("/metrics"), line)
}

// TestSyncFromChain: inline payloads and archives emitted on a real chain
// end processed and confirmed by their transaction; a tampered message is
// rejected and the rest of its archive processed; events of other
// emitters are ignored; an archive nobody has is retried without holding
// back later events, and processed once it appears.
func TestSyncFromChain(t *testing.T) {
	h := newHarness(t)
	a := ethtest.Account(t)

	m1 := post(t, a, "inline")
	tx1 := h.emit(0, payload(t, m1))

	m2, m3 := post(t, a, "archived 1"), post(t, a, "archived 2")
	tampered := post(t, a, "tampered")
	tampered.Signature = m2.Signature
	archive := payload(t, m2, tampered, m3)
	info, err := h.role.Node().Files().Add(h.ctx, files.IPFS, strings.NewReader(archive), files.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tx2 := h.emit(0, pointer(info.Hash))

	// An archive nobody has yet.
	m4 := post(t, a, "late archive")
	late := payload(t, m4)
	lateCID, err := files.CID(strings.NewReader(late), 0)
	if err != nil {
		t.Fatal(err)
	}
	tx3 := h.emit(0, pointer(lateCID))

	ignored := post(t, a, "from a stranger")
	h.emit(1, payload(t, ignored))
	h.emit(0, "not json")
	m5 := post(t, a, "after the missing archive")
	tx5 := h.emit(0, payload(t, m5))
	h.chain.Commit() // one confirmation for the last emit

	h.waitConfirmed(map[string]tx{m1.ItemHash: tx1, m2.ItemHash: tx2, m3.ItemHash: tx2, m5.ItemHash: tx5})
	if st := h.status(tampered.ItemHash); st != "rejected" {
		t.Errorf("tampered message: status %q, want rejected", st)
	}
	if st := h.status(ignored.ItemHash); st != "" {
		t.Errorf("message of an unauthorised emitter: status %q, want unknown", st)
	}
	if st := h.status(m4.ItemHash); st != "" {
		t.Errorf("message of the missing archive: status %q before the archive exists", st)
	}
	h.waitFor("the missing archive in /metrics", func() bool {
		return h.metric(`aleph_chain_archives_pending{chain="ETH"} 1`) && h.metric(`aleph_chain_archives_total{chain="ETH",outcome="failed"}`)
	})
	for _, line := range []string{
		`aleph_chain_events_ignored_total{chain="ETH"} 1`,
		`aleph_chain_events_total{chain="ETH",kind="unknown",outcome="malformed"} 1`,
		`aleph_chain_messages_total{chain="ETH",outcome="rejected"} 1`,
		`aleph_chain_lag_blocks{chain="ETH"} 1`,
	} {
		if !h.metric(line) {
			t.Errorf("/metrics has no %s", line)
		}
	}

	// The archive appears (uploaded here): the next attempt processes it.
	if _, err := h.role.Node().Files().Add(h.ctx, files.IPFS, bytes.NewReader([]byte(late)), files.AddOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitConfirmed(map[string]tx{m4.ItemHash: tx3})
	h.waitFor("no archive pending", func() bool { return h.metric(`aleph_chain_archives_pending{chain="ETH"} 0`) })
}

// TestReorgDropsConfirmations: a reorganisation that drops the block of a
// confirmed message removes that confirmation (the message stays
// processed); if the new chain holds the transaction again, it is
// confirmed again at its new block.
func TestReorgDropsConfirmations(t *testing.T) {
	h := newHarness(t)
	a := ethtest.Account(t)
	kept := post(t, a, "before the fork")
	txKept := h.emit(0, payload(t, kept))
	m := post(t, a, "in a dropped block")
	txm := h.emit(0, payload(t, m))
	h.chain.Commit()
	h.waitConfirmed(map[string]tx{kept.ItemHash: txKept, m.ItemHash: txm})
	db := h.role.Node().Store()
	h.waitFor("the synced block's hash recorded", func() bool {
		cs, err := db.ChainSync(h.ctx, chainsync.Chain)
		return err == nil && cs.Height >= txm.height && cs.BlockHash != ""
	})

	parent, err := h.chain.Client().HeaderByNumber(h.ctx, new(big.Int).SetUint64(txm.height-1))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.chain.Fork(parent.Hash()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.chain.Commit()
	}
	h.waitFor("the dropped block's confirmation removed", func() bool {
		confs, err := db.Confirmations(h.ctx, []string{m.ItemHash})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range confs[m.ItemHash] {
			if c.BlockHash == txm.block.Hex() {
				return false
			}
			// Sealed again: the confirmation must name a canonical block.
			hdr, err := h.chain.Client().HeaderByNumber(h.ctx, new(big.Int).SetUint64(c.Height))
			if err != nil || hdr.Hash().Hex() != c.BlockHash {
				return false
			}
		}
		return true
	})
	if !h.metric(`aleph_chain_reorgs_total{chain="ETH"}`) || h.metric(`aleph_chain_reorgs_total{chain="ETH"} 0`) {
		t.Errorf("/metrics counts no reorganisation")
	}
	if st := h.status(m.ItemHash); st != "processed" {
		t.Errorf("message of the dropped block: status %q, want processed", st)
	}
	if got := h.messages(kept.ItemHash)[kept.ItemHash]; !got.Confirmed || got.Confirmations[0].Hash != txKept.hash {
		t.Errorf("message before the fork: %+v, want still confirmed by %s", got, txKept.hash)
	}
}

// TestSmartContractEvents: doMessage from any account becomes an unsigned
// message of that account, processed and confirmed; STORE_IPFS becomes a
// STORE whose content has the reference's exact bytes.
func TestSmartContractEvents(t *testing.T) {
	h := newHarness(t)
	sender := h.chain.Accounts()[2].Address.Hex()
	sync := ethcontracts.NewAlephSync()

	content := fmt.Sprintf(`{"type":"note","address":%q,"time":%d,"content":{"body":"from a contract"}}`, sender, time.Now().Unix())
	txPost := h.call(2, sync.PackDoMessage("POST", content))
	postHash := message.InlineHash(content)

	info, err := h.role.Node().Files().Add(h.ctx, files.IPFS, strings.NewReader("a file stored from a contract"), files.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	txStore := h.call(2, sync.PackDoMessage("STORE_IPFS", info.Hash))
	hdr, err := h.chain.Client().HeaderByNumber(h.ctx, new(big.Int).SetUint64(txStore.height))
	if err != nil {
		t.Fatal(err)
	}
	storeContent := fmt.Sprintf(`{"address": "%s", "time": %d.0, "item_type": "ipfs", "item_hash": "%s"}`, sender, hdr.Time, info.Hash)
	storeHash := message.InlineHash(storeContent)
	h.chain.Commit()

	h.waitConfirmed(map[string]tx{postHash: txPost, storeHash: txStore})
	var got struct {
		Message struct {
			Sender      string  `json:"sender"`
			Signature   *string `json:"signature"`
			Type        string  `json:"type"`
			ItemContent string  `json:"item_content"`
			Time        float64 `json:"time"`
		} `json:"message"`
	}
	h.getJSON("/api/v0/messages/"+storeHash, &got)
	if m := got.Message; m.Sender != sender || m.Signature != nil || m.Type != "STORE" || m.ItemContent != storeContent || m.Time != float64(hdr.Time) {
		t.Errorf("STORE_IPFS message %+v", m)
	}
	if !h.metric(`aleph_chain_events_total{chain="ETH",kind="smart-contract",outcome="processed"} 2`) {
		t.Errorf("/metrics does not count 2 smart-contract events")
	}
}
