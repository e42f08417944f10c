package packer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	dto "github.com/prometheus/client_model/go"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/chain/chainsync"
	"github.com/goaleph/goaleph/internal/chain/devchain"
	"github.com/goaleph/goaleph/internal/chain/ethcontracts"
	"github.com/goaleph/goaleph/internal/chain/ethreader"
	"github.com/goaleph/goaleph/internal/chain/packer"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/message"
)

// waitTimeout bounds every wait: generous for -race on loaded machines.
const waitTimeout = 120 * time.Second

// commitDelay is the packers' commit delay in these tests.
const commitDelay = 3 * time.Second

// packerAccount is the dev chain account whose key the packer uses.
const packerAccount = 1

// bench is a dev chain sealing blocks on a timer, with the sync contract,
// and the data directory of a core node that packs on it.
type bench struct {
	t        *testing.T
	ctx      context.Context
	chain    *devchain.Chain
	contract common.Address
	dataDir  string
}

func newBench(t *testing.T) *bench {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitTimeout)
	t.Cleanup(cancel)
	c, err := devchain.New(devchain.Config{BlockInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	addr, err := c.DeploySync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &bench{t: t, ctx: ctx, chain: c, contract: addr, dataDir: t.TempDir()}
}

// running is a started core node role.
type running struct {
	role   *node.Role
	api    *client.Client
	cancel context.CancelFunc
	done   chan error
}

// start runs the node with its packer; crash is the packer's crash hook.
func (b *bench) start(crash func(packer.CrashPoint) error) *running {
	t := b.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	role, err := node.NewRole(b.ctx, node.RoleConfig{
		Node:     node.Config{DataDir: b.dataDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		NoP2P:    true,
		Listener: ln,
		// The emitters leave the packer out: the role adds its account.
		Chain: chainsync.Config{RPC: b.chain.URL(), SyncContract: b.contract.Hex(), Emitters: []string{chainsync.MainnetEmitter},
			Confirmations: 2, StartHeight: 0, PollInterval: 50 * time.Millisecond},
		Packer: packer.Config{Key: b.chain.Accounts()[packerAccount].KeyHex(), CommitDelay: commitDelay,
			FollowInterval: 50 * time.Millisecond, RetryBase: 50 * time.Millisecond, MaxBackoff: time.Second, Crash: crash},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.ctx)
	r := &running{role: role, api: client.New(role.URL()), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- role.Run(ctx) }()
	t.Cleanup(r.stop)
	select {
	case <-role.Ready():
	case err := <-r.done:
		t.Fatalf("role stopped: %v", err)
	}
	return r
}

// stop stops the role (once) and reports an error it returned.
func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		panic(fmt.Sprintf("role: %v", err))
	}
}

// signed returns n signed inline POSTs of one new account.
func signed(t *testing.T, n int) []*message.Message {
	t.Helper()
	a := ethtest.Account(t)
	var out []*message.Message
	for i := range n {
		now := time.Now()
		c := fmt.Sprintf(`{"type":"test","address":%q,"time":%d.25,"content":{"n":%d,"html":"<b>&</b>"}}`, a.Address(), now.Unix(), i)
		m, err := message.NewInline(a, message.TypePost, "TEST", c, now)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// post submits msgs in order, each processed before the next is sent, and
// returns how many the node took before stop was closed (it stops at the
// first failure once stop is closed: the node is going away).
func (r *running) post(t *testing.T, msgs []*message.Message, stop <-chan struct{}) int {
	t.Helper()
	for i, m := range msgs {
		st, err := r.api.Submit(context.Background(), m, true)
		if err == nil && st == client.StatusProcessed {
			continue
		}
		select {
		case <-stop:
			return i
		default:
		}
		t.Fatalf("post %d: %v, %v", i, st, err)
	}
	return len(msgs)
}

// processed returns the messages of msgs the node holds as processed, in order.
func (r *running) processed(t *testing.T, msgs []*message.Message) []*message.Message {
	t.Helper()
	var out []*message.Message
	for _, m := range msgs {
		st, err := r.api.MessageStatus(context.Background(), m.ItemHash)
		if err == nil && st.Status == client.StatusProcessed {
			out = append(out, m)
		}
	}
	return out
}

// confirmation is the node's confirmation of a message.
type confirmation struct {
	Chain  string `json:"chain"`
	Hash   string `json:"hash"`
	Height uint64 `json:"height"`
}

// confirmations returns the confirmations the API lists for msgs, or nil
// while one of them is not confirmed.
func (r *running) confirmations(t *testing.T, msgs []*message.Message) map[string][]confirmation {
	t.Helper()
	hashes := make([]string, len(msgs))
	for i, m := range msgs {
		hashes[i] = m.ItemHash
	}
	page, err := r.api.Messages(context.Background(), client.MessageFilter{Hashes: hashes, Pagination: len(hashes)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]confirmation{}
	for _, m := range page.Messages {
		var w struct{ Confirmations []confirmation }
		if err := json.Unmarshal(m.Raw, &w); err != nil {
			t.Fatal(err)
		}
		if !m.Confirmed || len(w.Confirmations) == 0 {
			return nil
		}
		out[m.ItemHash] = w.Confirmations
	}
	if len(out) != len(msgs) {
		return nil
	}
	return out
}

// waitConfirmed waits until every message of msgs is confirmed.
func (r *running) waitConfirmed(t *testing.T, msgs []*message.Message) map[string][]confirmation {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if c := r.confirmations(t, msgs); c != nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the confirmations (chain head %v, synced %v)",
				counter(t, r, "aleph_chain_head_height"), counter(t, r, "aleph_chain_synced_height"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// emitted is a SyncEvent of the packer's account, with its archive CID.
type emitted struct {
	tx     string
	height uint64
	cid    string
}

// events returns every SyncEvent on the contract.
func (b *bench) events() []emitted {
	b.t.Helper()
	logs, err := b.chain.Client().FilterLogs(b.ctx, ethereum.FilterQuery{FromBlock: common.Big0, Addresses: []common.Address{b.contract}})
	if err != nil {
		b.t.Fatal(err)
	}
	sync := ethcontracts.NewAlephSync()
	var out []emitted
	for i := range logs {
		ev, err := sync.UnpackSyncEventEvent(&logs[i])
		if err != nil {
			b.t.Fatal(err)
		}
		if ev.Addr != b.chain.Accounts()[packerAccount].Address {
			b.t.Fatalf("SyncEvent from %s", ev.Addr)
		}
		p, err := ethreader.ParseSyncMessage([]byte(ev.Message))
		if err != nil || p.Protocol != ethreader.ProtocolOffchain {
			b.t.Fatalf("payload %q: %+v, %v", ev.Message, p, err)
		}
		out = append(out, emitted{tx: logs[i].TxHash.Hex(), height: logs[i].BlockNumber, cid: p.CID.String()})
	}
	return out
}

// checkAnchored checks that every message of msgs is anchored exactly
// once: the archives of the SyncEvents, downloaded by CID from the node,
// parse into exactly msgs, in order, each message in one archive only, and
// each message's confirmation names the transaction and height of the
// event whose archive holds it. It returns the number of events.
func (b *bench) checkAnchored(r *running, msgs []*message.Message, confs map[string][]confirmation) int {
	t := b.t
	t.Helper()
	evs := b.events()
	i := 0
	for _, ev := range evs {
		var buf bytes.Buffer
		if _, err := r.api.Download(b.ctx, ev.cid, &buf); err != nil {
			t.Fatalf("download archive %s: %v", ev.cid, err)
		}
		raws, err := ethreader.ParseArchive(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range raws {
			if i == len(msgs) {
				t.Fatalf("archive %s holds more than the %d posted messages", ev.cid, len(msgs))
			}
			got, err := message.Parse(raw)
			if err != nil {
				t.Fatalf("archive %s: %v", ev.cid, err)
			}
			if *got != *msgs[i] {
				t.Fatalf("archived message %d = %+v, want %+v", i, got, msgs[i])
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(raw, &fields); err != nil {
				t.Fatal(err)
			}
			if _, ok := fields["content"]; ok || len(fields) != 9 {
				t.Fatalf("archived message %s, want the 9 envelope fields of spec §7.1", raw)
			}
			want := confirmation{Chain: "ETH", Hash: ev.tx, Height: ev.height}
			if c := confs[got.ItemHash]; len(c) != 1 || c[0] != want {
				t.Fatalf("confirmations of %s = %+v, want [%+v]", got.ItemHash, c, want)
			}
			i++
		}
	}
	if i != len(msgs) {
		t.Fatalf("%d of %d messages archived in %+v", i, len(msgs), evs)
	}
	return len(evs)
}

// counter reads a packer counter from the node's registry.
func counter(t *testing.T, r *running, name string) float64 {
	t.Helper()
	mfs, err := r.role.Node().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return value(mf.GetMetric()[0])
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func value(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// TestAnchor: posted messages are anchored in one batch, confirmed by the
// node's own chain reader, and their archive is served by CID.
func TestAnchor(t *testing.T) {
	b := newBench(t)
	r := b.start(nil)
	msgs := signed(t, 5)
	r.post(t, msgs, nil)
	start := time.Now()
	confs := r.waitConfirmed(t, msgs)
	t.Logf("confirmed %v after the last post (commit delay %v)", time.Since(start).Round(time.Millisecond), commitDelay)
	batches := b.checkAnchored(r, msgs, confs)
	if got := counter(t, r, "aleph_packer_batches_anchored_total"); got != float64(batches) {
		t.Errorf("batches anchored = %v, want %d", got, batches)
	}
	if got := counter(t, r, "aleph_packer_transactions_sent_total"); got != float64(batches) {
		t.Errorf("transactions sent = %v, want one per batch (%d)", got, batches)
	}
	if got := counter(t, r, "aleph_packer_messages_anchored_total"); got != 5 {
		t.Errorf("messages anchored = %v, want 5", got)
	}
	if got := counter(t, r, "aleph_packer_gas_used_total"); got < 21_000*float64(batches) {
		t.Errorf("gas used = %v, want at least 21000 per transaction", got)
	}
}

// TestCrash: a packer that stops after recording a batch (before signing
// its transaction) or after recording its signed transaction (before
// broadcasting it) and restarts emits the batch exactly once.
func TestCrash(t *testing.T) {
	for _, point := range []packer.CrashPoint{packer.AfterRecord, packer.AfterSign} {
		t.Run(string(point), func(t *testing.T) {
			b := newBench(t)
			crashed := make(chan struct{})
			errCrash := errors.New("simulated crash")
			r := b.start(func(p packer.CrashPoint) error {
				if p != point {
					return nil
				}
				close(crashed)
				return errCrash
			})
			// The crash may come before every message is posted: the
			// messages checked are those the restarted node holds.
			msgs := signed(t, 3)
			r.post(t, msgs, crashed)
			select {
			case <-crashed:
			case <-time.After(waitTimeout):
				t.Fatal("the packer never reached the crash point")
			}
			if err := <-r.done; !errors.Is(err, errCrash) {
				t.Fatalf("role stopped with %v, want the simulated crash", err)
			}
			r.cancel = nil
			if evs := b.events(); len(evs) != 0 {
				t.Fatalf("SyncEvents before the restart: %+v", evs)
			}
			r = b.start(nil)
			if msgs = r.processed(t, msgs); len(msgs) == 0 {
				t.Fatal("the node holds none of the posted messages")
			}
			confs := r.waitConfirmed(t, msgs)
			b.checkAnchored(r, msgs, confs)
		})
	}
}
