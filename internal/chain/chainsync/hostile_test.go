package chainsync_test

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/contracts"
	"github.com/goaleph/goaleph/internal/chain/devchain/chaintest"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/message"
)

// TestTamperedArchive: an archive whose entries include a message signed
// by someone else, one whose content was changed after signing, one whose
// hash is not its content's, and entries that are not messages at all:
// the genuine messages are processed and confirmed, the forged signature
// is rejected, the rest is counted as invalid and skipped.
func TestTamperedArchive(t *testing.T) {
	h := newHarness(t)
	a, b := ethtest.Account(t), ethtest.Account(t)
	m1, m2 := post(t, a, "genuine 1"), post(t, a, "genuine 2")
	forged := post(t, b, "forged")
	forged.Sender = a.Address() // b's signature, a's name
	altered := post(t, a, "altered")
	altered.ItemContent = strings.Replace(altered.ItemContent, "altered", "changed", 1)
	badHash := post(t, a, "bad hash")
	badHash.ItemHash = message.InlineHash(badHash.ItemContent + " ")
	entries := []string{js(t, m1), js(t, forged), js(t, altered), js(t, badHash), `1`, `null`, `"x"`, `[]`, js(t, m2)}
	archive := `{"protocol":"aleph","version":1,"content":{"messages":[` + strings.Join(entries, ",") + `]}}`
	info, err := h.role.Node().Files().Add(h.ctx, files.IPFS, strings.NewReader(archive), files.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sent := h.emit(0, pointer(info.Hash))
	h.chain.Commit()

	h.waitConfirmed(map[string]tx{m1.ItemHash: sent, m2.ItemHash: sent})
	h.waitFor("the archive's outcomes in /metrics", func() bool {
		return h.metric(`aleph_chain_messages_total{chain="ETH",outcome="invalid"} 6`) &&
			h.metric(`aleph_chain_messages_total{chain="ETH",outcome="rejected"} 1`)
	})
	if st := h.status(forged.ItemHash); st != "rejected" {
		t.Errorf("forged message: status %q, want rejected", st)
	}
	for _, m := range []*message.Message{altered, badHash} {
		if st := h.status(m.ItemHash); st != "" {
			t.Errorf("%s: status %q, want unknown", m.ItemContent, st)
		}
	}
	if got := h.messages(forged.ItemHash); len(got) != 0 {
		t.Errorf("the forged message is listed: %+v", got)
	}
	if !h.metric(`aleph_chain_messages_total{chain="ETH",outcome="accepted"} 2`) ||
		!h.metric(`aleph_chain_events_total{chain="ETH",kind="aleph-offchain",outcome="processed"} 1`) {
		t.Errorf("/metrics does not count 2 accepted messages of one processed archive")
	}
}

func js(t *testing.T, m *message.Message) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rawLogger is the bytecode of a contract that logs whatever it is sent:
// LOG1 with the first 32 bytes of the calldata as topic and the rest as
// data. Put at the sync contract's address, it emits logs with the
// AlephSync events' topics whose data need not decode:
//
//	init:    PUSH1 17 PUSH1 12 PUSH1 0 CODECOPY PUSH1 17 PUSH1 0 RETURN
//	runtime: CALLDATASIZE PUSH1 0 PUSH1 0 CALLDATACOPY PUSH1 0 MLOAD
//	         PUSH1 32 CALLDATASIZE SUB PUSH1 32 LOG1 STOP
const rawLogger = "6011600c60003960116000f3" + "366000600037600051602036036020a100"

// TestMalformedLogs: logs of the sync contract with an AlephSync event's
// topic but data that does not decode (too short, a timestamp beyond 64
// bits) are counted in /metrics and skipped, and the well-formed event
// after them is processed.
func TestMalformedLogs(t *testing.T) {
	ctx, c := chaintest.Start(t, 4*waitTimeout)
	addr, deploy, err := bind.DeployContract(c.Transactor(0), common.FromHex(rawLogger), c.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mined(ctx, deploy); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, chain: c, contract: addr, rpc: c.URL()}
	h.start(t.TempDir())
	parsed, err := abi.JSON(strings.NewReader(contracts.SyncABI))
	if err != nil {
		t.Fatal(err)
	}
	syncEv, msgEv := parsed.Events["SyncEvent"], parsed.Events["MessageEvent"]
	emitter := c.Accounts()[0].Address
	log := func(topic common.Hash, data []byte) tx { return h.call(0, append(topic.Bytes(), data...)) }
	pack := func(args ...any) []byte {
		b, err := syncEv.Inputs.Pack(args...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	log(syncEv.ID, []byte{1, 2, 3})
	log(msgEv.ID, make([]byte, 40))
	huge := new(big.Int).Lsh(big.NewInt(1), 70)
	log(syncEv.ID, pack(huge, emitter, payload(t, post(t, ethtest.Account(t), "at an impossible time"))))
	m := post(t, ethtest.Account(t), "after the malformed logs")
	ok := log(syncEv.ID, pack(big.NewInt(1_700_000_000), emitter, payload(t, m)))
	h.chain.Commit()

	h.waitConfirmed(map[string]tx{m.ItemHash: ok})
	if !h.metric(`aleph_chain_logs_malformed_total{chain="ETH"} 3`) {
		t.Errorf("/metrics does not count 3 malformed logs:\n%s", grep(h.get("/metrics"), "aleph_chain_"))
	}
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
