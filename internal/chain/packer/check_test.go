package packer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	dto "github.com/prometheus/client_model/go"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/chain/ethcontracts"
	"github.com/goaleph/goaleph/internal/chain/ethreader"
	"github.com/goaleph/goaleph/message"
)

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
		if time.Now().After(deadline) && r.role == nil {
			t.Fatal("timed out waiting for the confirmations")
		}
		if time.Now().After(deadline) {
			devHead, err := r.chain.Client().BlockNumber(context.Background())
			t.Fatalf("timed out waiting for the confirmations (dev chain head %v %v, chain head %v, synced %v, poll errors %v, batches %v)",
				devHead, err, counter(t, r, "aleph_chain_head_height"), counter(t, r, "aleph_chain_synced_height"),
				counter(t, r, "aleph_chain_poll_errors_total"), counter(t, r, "aleph_packer_batches_anchored_total"))
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
