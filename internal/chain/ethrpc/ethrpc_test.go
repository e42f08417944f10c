package ethrpc_test

import (
	"context"
	"errors"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/goaleph/goaleph/internal/chain/devchain/chaintest"
	"github.com/goaleph/goaleph/internal/chain/ethrpc"
	"github.com/goaleph/goaleph/internal/prom"
)

// failures returns the failures counted for method and reason.
func failures(t *testing.T, reg *prometheus.Registry, method, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "aleph_chain_rpc_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if prom.HasLabel(m, "method", method) && prom.HasLabel(m, "reason", reason) &&
				prom.HasLabel(m, "chain", "ETH") && prom.HasLabel(m, "service", "test") {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// TestTimeoutAndFailures: through a real proxy, a stalled endpoint fails
// the call after the timeout (not later), a cut one fails at once, an
// error answer is counted as such, and NotFound is no failure.
func TestTimeoutAndFailures(t *testing.T) {
	ctx, chain := chaintest.Start(t, 2*time.Minute)
	u, err := url.Parse(chain.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := chaintest.NewProxy(t, u.Host)
	const timeout = 500 * time.Millisecond
	c, err := ethrpc.Dial(ctx, proxy.URL(), ethrpc.Options{Chain: "ETH", Service: "test", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg := prometheus.NewRegistry()
	if err := c.Register(reg); err != nil {
		t.Fatal(err)
	}
	chain.Commit()
	if h, err := c.BlockNumber(ctx); err != nil || h != 1 {
		t.Fatalf("head = %d, %v; want 1", h, err)
	}

	proxy.Set(chaintest.Stall)
	start := time.Now()
	_, err = c.BlockNumber(ctx)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled call: %v, want a deadline error", err)
	}
	// The call ends at its deadline: well before the test's context.
	if took < timeout || took > 20*timeout {
		t.Errorf("stalled call returned after %v, want about %v", took, timeout)
	}
	if got := failures(t, reg, "eth_blockNumber", ethrpc.ReasonTimeout); got != 1 {
		t.Errorf("timeouts = %v, want 1", got)
	}

	proxy.Set(chaintest.Cut)
	if _, err := c.FilterLogs(ctx, ethereum.FilterQuery{}); err == nil {
		t.Fatal("call through a cut proxy succeeded")
	}
	if got := failures(t, reg, "eth_getLogs", ethrpc.ReasonUnavailable); got != 1 {
		t.Errorf("unavailable = %v, want 1", got)
	}

	proxy.Set(chaintest.Forward)
	if h, err := c.BlockNumber(ctx); err != nil || h != 1 {
		t.Fatalf("after the outage: head = %d, %v; want 1", h, err)
	}
	// An answer that is an error: a block range that ends before it starts.
	if _, err := c.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(1), ToBlock: big.NewInt(0)}); err == nil {
		t.Fatal("inverted block range accepted")
	}
	if got := failures(t, reg, "eth_getLogs", ethrpc.ReasonError); got != 1 {
		t.Errorf("error answers = %v, want 1", got)
	}
	if _, err := c.HeaderByHash(ctx, common.Hash{1}); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("unknown block: %v, want NotFound", err)
	}
	if got := failures(t, reg, "eth_getBlockByHash", ethrpc.ReasonError) + failures(t, reg, "eth_getBlockByHash", ethrpc.ReasonUnavailable); got != 0 {
		t.Errorf("NotFound counted as a failure (%v)", got)
	}
}
