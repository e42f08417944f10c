package packer_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/params"

	"github.com/goaleph/goaleph/internal/chain/packer"
)

// waitMetric waits until the packer metric name reaches at least min.
func (r *running) waitMetric(t *testing.T, name string, min float64) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for counter(t, r, name) < min {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s ≥ %v (now %v)", name, min, counter(t, r, name))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplaceStuck: a transaction the chain does not seal (its tip is
// below what the block builder takes) is replaced after BumpBlocks blocks
// by one with the same nonce and higher fees, again while it stays stuck;
// once the chain seals again, each batch is anchored by exactly one of
// its transactions: one SyncEvent and one nonce per batch.
func TestReplaceStuck(t *testing.T) {
	b := newBench(t)
	b.chain.SetMinTip(big.NewInt(1000 * params.GWei))
	b.packer = func(c *packer.Config) { c.BumpBlocks = 3 }
	r := b.start(nil)
	msgs := signed(t, 3)
	r.post(t, msgs, nil)
	r.waitMetric(t, "aleph_packer_transactions_replaced_total", 2)
	if evs := b.events(); len(evs) != 0 {
		t.Fatalf("SyncEvents of a stuck transaction: %+v", evs)
	}
	b.chain.SetMinTip(common.Big0)
	confs := r.waitConfirmed(t, msgs)
	// Usually one batch; two if the commit delay fell between two posts.
	n := b.checkAnchored(r, msgs, confs)
	from := b.chain.Accounts()[packerAccount].Address
	if nonce, err := b.chain.Client().NonceAt(b.ctx, from, nil); err != nil || nonce != uint64(n) {
		t.Fatalf("packer account nonce %d (%v), want %d: one transaction mined per SyncEvent", nonce, err, n)
	}
	sent, replaced := counter(t, r, "aleph_packer_transactions_sent_total"), counter(t, r, "aleph_packer_transactions_replaced_total")
	if sent != replaced+float64(n) {
		t.Errorf("sent %v, replaced %v, %d batches: want one first transaction per batch and its replacements", sent, replaced, n)
	}
	// The first batch's transaction is the account's first: nonce 0, not
	// a new nonce for a replacement.
	ev := b.events()[0]
	tx, _, err := b.chain.Client().TransactionByHash(b.ctx, common.HexToHash(ev.tx))
	if err != nil {
		t.Fatal(err)
	}
	if tx.Nonce() != 0 {
		t.Errorf("first SyncEvent's transaction has nonce %d, want 0", tx.Nonce())
	}
	if counter(t, r, "aleph_packer_fees_wei_total") <= 0 || counter(t, r, "aleph_packer_gas_price_wei") <= 0 {
		t.Error("no fees in /metrics")
	}
}

// TestGasCeiling: above the gas price ceiling the packer sends nothing
// and counts it; the batch waits and is anchored once the ceiling allows
// it (here: after a restart with the default ceiling).
func TestGasCeiling(t *testing.T) {
	b := newBench(t)
	b.packer = func(c *packer.Config) { c.MaxGasPrice = "1wei" }
	r := b.start(nil)
	msgs := signed(t, 3)
	r.post(t, msgs, nil)
	r.waitMetric(t, "aleph_packer_gas_price_refused_total", 2)
	if sent := counter(t, r, "aleph_packer_transactions_sent_total"); sent != 0 {
		t.Fatalf("%v transactions sent above the ceiling", sent)
	}
	if errs := counter(t, r, "aleph_packer_rpc_errors_total"); errs != 0 {
		t.Errorf("a refusal counted as %v RPC errors", errs)
	}
	r.stop()
	if evs := b.events(); len(evs) != 0 {
		t.Fatalf("SyncEvents above the ceiling: %+v", evs)
	}
	b.packer = nil
	r = b.start(nil)
	confs := r.waitConfirmed(t, msgs)
	b.checkAnchored(r, msgs, confs)
}

func TestParseGasPrice(t *testing.T) {
	for in, want := range map[string]string{
		"150gwei": "150000000000", "7": "7", "7 wei": "7", " 2 GWei": "2000000000", "none": "0", "0": "0",
		"123456789012345678901234567890": "123456789012345678901234567890",
	} {
		got, err := packer.ParseGasPrice(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseGasPrice(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1.5gwei", "-1", "gwei", "12eth"} {
		if got, err := packer.ParseGasPrice(in); err == nil {
			t.Errorf("ParseGasPrice(%q) = %v, want an error", in, got)
		}
	}
}
