package chainsync_test

import (
	"math/big"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/chain/devchain/chaintest"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/node"
)

// metricValue returns the sum of the /metrics series matching series (a
// regexp of the series, without the value), or -1 when none matches.
func (h *harness) metricValue(series string) float64 {
	h.t.Helper()
	ms := regexp.MustCompile(`(?m)^`+series+` (\S+)$`).FindAllStringSubmatch(h.get("/metrics"), -1)
	if ms == nil {
		return -1
	}
	sum := 0.0
	for _, m := range ms {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			h.t.Fatal(err)
		}
		sum += v
	}
	return sum
}

// balance returns the stored ETH token balance of a (0 when none).
func (h *harness) balance(a common.Address) *big.Int {
	h.t.Helper()
	rows, err := h.role.Node().Store().Balances(h.ctx, a.Hex())
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range rows {
		if r.Chain == "ETH" && r.Dapp == "" {
			return r.Amount
		}
	}
	return new(big.Int)
}

// TestRPCOutage: the node reads the chain (sync contract and token)
// through a real TCP proxy. While the proxy drops every connection, then
// while it accepts and never answers, the readers' polls fail, back off
// (the wait doubles: aleph_chain_poll_backoff_seconds) and /metrics counts
// the failures by reason; events emitted meanwhile are all read once the
// endpoint is back: every message is confirmed by its own transaction and
// every transfer is in the balances.
func TestRPCOutage(t *testing.T) {
	h := deploy(t)
	u, err := url.Parse(h.chain.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := chaintest.NewProxy(t, u.Host)
	token, err := h.chain.DeployToken(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.rpc, h.rpcTimeout = proxy.URL(), 2*time.Second
	h.token = node.TokenConfig{Enabled: true, RPC: proxy.URL(), Address: token.Hex(), Confirmations: 1,
		PollInterval: 50 * time.Millisecond}
	h.start(t.TempDir())
	a := ethtest.Account(t)
	holder := common.Address{0xa1}

	want := map[string]tx{}
	m := post(t, a, "before the outage")
	want[m.ItemHash] = h.emit(0, payload(t, m))
	h.chain.Commit()
	h.waitConfirmed(want)

	mint := func(n int64) {
		if _, err := h.chain.Mint(h.ctx, token, holder, big.NewInt(n)); err != nil {
			t.Fatal(err)
		}
	}
	mint(1)
	h.chain.Commit() // its confirmation
	h.waitFor("the first transfer in the balances", func() bool { return h.balance(holder).Int64() == 1 })

	emitDuring := func(what string) {
		for i := range 3 {
			m := post(t, a, what+" "+strconv.Itoa(i))
			want[m.ItemHash] = h.emit(0, payload(t, m))
			mint(10)
		}
	}
	const backoff = `aleph_chain_poll_backoff_seconds\{chain="ETH"\}`
	failures := func(service, reason string) float64 {
		return h.metricValue(`aleph_chain_rpc_failures_total\{chain="ETH",method="[^"]+",reason="` + reason + `",service="` + service + `"\}`)
	}

	// The endpoint is down: connections are dropped.
	proxy.Set(chaintest.Cut)
	emitDuring("while cut")
	h.waitFor("polls failing and backing off", func() bool {
		// RetryBase is 50 ms: a wait of 200 ms means it doubled twice.
		return h.metricValue(backoff) >= 0.2 && failures("sync", "unavailable") > 0 && failures("token", "unavailable") > 0
	})

	// The endpoint hangs: calls end at the RPC timeout.
	proxy.Set(chaintest.Stall)
	emitDuring("while stalled")
	h.waitFor("calls timing out", func() bool {
		return failures("sync", "timeout") > 0 && failures("token", "timeout") > 0
	})
	for hash := range want {
		if st := h.status(hash); hash != m.ItemHash && st != "" {
			t.Fatalf("message %s emitted during the outage is %s already", hash, st)
		}
	}
	if v := h.metricValue(`aleph_chain_poll_errors_total\{chain="ETH"\}`); v < 2 {
		t.Errorf("poll errors = %v during the outage, want several", v)
	}

	// Back: everything emitted during the outage is read, no gap.
	proxy.Set(chaintest.Forward)
	h.chain.Commit()
	h.waitConfirmed(want)
	h.waitFor("every transfer in the balances", func() bool { return h.balance(holder).Int64() == 1+6*10 })
	h.waitFor("the back-off reset", func() bool { return h.metricValue(backoff) == 0 })
	head, err := h.chain.Client().BlockNumber(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.waitFor("the synced height at the head", func() bool {
		return h.metricValue(`aleph_chain_synced_height\{chain="ETH"\}`) >= float64(head-1)
	})
}

// TestArchiveRetryRestart: an archive nobody has is recorded to be fetched
// again; a node restarted after its reader went past the event still
// fetches it (the queue is in the store) and confirms its messages once
// the archive appears.
func TestArchiveRetryRestart(t *testing.T) {
	h := deploy(t)
	dir := t.TempDir()
	h.start(dir)
	m := post(t, ethtest.Account(t), "archive that comes late")
	late := payload(t, m)
	cid, err := files.CID(strings.NewReader(late), 0)
	if err != nil {
		t.Fatal(err)
	}
	sent := h.emit(0, pointer(cid))
	h.chain.Commit()
	const pending = `aleph_chain_archives_pending{chain="ETH"} `
	h.waitFor("the missing archive queued and the reader past its event", func() bool {
		return h.metric(pending+"1") && h.metricValue(`aleph_chain_synced_height\{chain="ETH"\}`) >= float64(sent.height)
	})
	h.stop()

	h.start(dir)
	h.waitFor("the archive queued again after the restart", func() bool { return h.metric(pending + "1") })
	if _, err := h.role.Node().Files().Add(h.ctx, files.IPFS, strings.NewReader(late), files.AddOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitConfirmed(map[string]tx{m.ItemHash: sent})
	h.waitFor("no archive pending", func() bool { return h.metric(pending + "0") })
	if rs, err := h.role.Node().Store().ArchiveRetries(h.ctx, "ETH"); err != nil || len(rs) != 0 {
		t.Fatalf("archives still to fetch in the store: %+v, %v", rs, err)
	}
}
