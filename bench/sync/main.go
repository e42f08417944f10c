// Command sync measures catch-up between two core nodes that hold many
// messages in common and differ by a few: the bytes the reconciliation
// sends compared with sending every hash, and the time until both nodes
// hold the same set.
//
// It runs, on this machine and on loopback:
//
//  1. bench/fill writes -n processed POSTs into node A's data directory
//     (SQLite), and the directory is copied for node B: -n common messages;
//  2. both nodes start (core node and p2p service, not connected), and
//     each gets -diff/2 new signed POSTs through its own pipeline;
//  3. A connects to B; the connection starts a sync session (the peer
//     with the smaller ID opens it), which reconciles the two sets and
//     sends each side the envelopes it lacks;
//  4. it waits until both nodes hold the same set, then reads the
//     session's figures from the nodes' metrics, and runs two more
//     sessions between the now equal nodes (the first reads the grown sets
//     from the databases again, the second reuses them).
//
// With -spread (the default) the differences' times are spread over the
// years of the common messages, the worst case for reconciliation (every
// difference in its own range); without, they are all recent, the common
// case of a node that was away for a while.
//
// It prints the figures and one "RESULT key=value …" line. It measures; it
// asserts nothing.
//
//	go run ./bench/sync -n 1000000 -diff 100
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/p2p"
	"github.com/goaleph/goaleph/internal/p2p/reconcile"
	"github.com/goaleph/goaleph/internal/prom"
	"github.com/goaleph/goaleph/message"
)

func main() {
	n := flag.Int("n", 1_000_000, "messages both nodes hold")
	diff := flag.Int("diff", 100, "messages only one node holds (half on each side)")
	dir := flag.String("dir", "", "work directory (default: a temporary one, removed at the end)")
	spread := flag.Bool("spread", true, "give the differences times spread over the common messages' years (else: now)")
	flag.Parse()
	if err := run(*n, *diff, *dir, *spread); err != nil {
		fmt.Fprintln(os.Stderr, "sync:", err)
		os.Exit(1)
	}
}

type side struct {
	core *node.Node
	p2p  *p2p.Service
	done chan error
}

func run(n, diff int, dir string, spread bool) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "aleph-bench-sync-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	fill := filepath.Join(dir, "fill")
	start := time.Now()
	if out, err := exec.Command("go", "build", "-o", fill, "./bench/fill").CombinedOutput(); err != nil {
		return fmt.Errorf("build bench/fill: %v\n%s", err, out)
	}
	if out, err := exec.Command(fill, "-dir", a, "-n", fmt.Sprint(n)).CombinedOutput(); err != nil {
		return fmt.Errorf("bench/fill: %v\n%s", err, out)
	}
	if out, err := exec.Command("cp", "-a", a, b).CombinedOutput(); err != nil {
		return fmt.Errorf("copy: %v\n%s", err, out)
	}
	fmt.Printf("setup: %d common messages in %s\n", n, time.Since(start).Round(time.Second))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	nodes := make([]*side, 2)
	for i, d := range []string{a, b} {
		s, err := startSide(ctx, d, log.With("node", i))
		if err != nil {
			return err
		}
		nodes[i] = s
		defer func() {
			cancel()
			<-s.done
		}()
	}

	// The differences, each through its node's own pipeline.
	acc, err := eth.NewAccount()
	if err != nil {
		return err
	}
	for i := range diff {
		s := nodes[i%2]
		when := time.Now()
		if spread {
			// bench/fill's messages span 2021-01-01 to 2026-01-01.
			when = time.Unix(1609459200+int64(i)*(1767225600-1609459200)/int64(diff), 0)
		}
		m, err := signPost(acc, i, when)
		if err != nil {
			return err
		}
		if st, err := s.core.Submit(ctx, m, "bench", true); err != nil || st != "processed" {
			return fmt.Errorf("submit: %s %v", st, err)
		}
	}
	total := n + diff
	for i, s := range nodes {
		c, err := s.core.Store().Counts(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("node %d holds %d messages\n", i, c.Messages)
	}

	// Connect: the connection starts the session.
	t0 := time.Now()
	info := peer.AddrInfo{ID: nodes[1].p2p.ID(), Addrs: nodes[1].p2p.Host().Addrs()}
	if err := nodes[0].p2p.Host().Connect(ctx, info); err != nil {
		return err
	}
	for {
		ca, err := nodes[0].core.Store().Counts(ctx)
		if err != nil {
			return err
		}
		cb, err := nodes[1].core.Store().Counts(ctx)
		if err != nil {
			return err
		}
		if ca.Messages == int64(total) && cb.Messages == int64(total) {
			break
		}
		if time.Since(t0) > 5*time.Minute {
			return fmt.Errorf("not converged after 5 min: %d and %d of %d", ca.Messages, cb.Messages, total)
		}
		time.Sleep(5 * time.Millisecond)
	}
	converged := time.Since(t0)
	sent := metric(nodes[0].core.Registry(), "aleph_p2p_sync_reconcile_bytes_total", "direction", "sent") +
		metric(nodes[1].core.Registry(), "aleph_p2p_sync_reconcile_bytes_total", "direction", "sent")
	sessionSecs := histSum(nodes[0].core.Registry(), "aleph_p2p_sync_session_seconds") +
		histSum(nodes[1].core.Registry(), "aleph_p2p_sync_session_seconds")
	raw := float64(n+diff/2) * 32

	// A session between equal nodes: the cost of a periodic check.
	initiator, responder := nodes[0], nodes[1]
	if nodes[1].p2p.ID() < nodes[0].p2p.ID() {
		initiator, responder = nodes[1], nodes[0]
	}
	// The first reads the grown sets again; the second reuses them.
	var res reconcile.Result
	var idle time.Duration
	for range 2 {
		t1 := time.Now()
		if res, err = initiator.p2p.Sync(ctx, responder.p2p.ID()); err != nil {
			return err
		}
		idle = time.Since(t1)
		fmt.Printf("session between equal nodes: %s, %d bytes\n", idle.Round(time.Millisecond), res.Stats.BytesSent+res.Stats.BytesReceived)
	}

	fmt.Printf("converged in %s after connecting (sessions: %.3f s in all, both sides)\n", converged.Round(time.Millisecond), sessionSecs/2)
	fmt.Printf("reconciliation bytes (both directions): %.0f = %.3f%% of sending %d binary hashes (%.1f MB), %.3f%% of hex\n",
		sent, 100*sent/raw, n+diff/2, raw/1e6, 50*sent/raw)
	fmt.Printf("RESULT n=%d diff=%d converge_ms=%.0f bytes=%.0f pct_of_raw=%.3f idle_session_ms=%.0f idle_bytes=%d\n",
		n, diff, float64(converged.Microseconds())/1000, sent, 100*sent/raw, float64(idle.Microseconds())/1000,
		res.Stats.BytesSent+res.Stats.BytesReceived)
	return nil
}

func startSide(ctx context.Context, dir string, log *slog.Logger) (*side, error) {
	r, err := node.NewRole(ctx, node.RoleConfig{
		Node: node.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: log},
		P2P:  p2p.Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, SyncPeriod: time.Hour},
	})
	if err != nil {
		return nil, err
	}
	s := &side{core: r.Node(), p2p: r.P2P(), done: make(chan error, 1)}
	go func() { s.done <- r.Run(ctx) }()
	return s, nil
}

func signPost(acc *eth.Account, i int, now time.Time) (*message.Message, error) {
	content, _ := json.Marshal(map[string]any{"address": acc.Address(), "time": float64(now.UnixMilli()) / 1000,
		"type": "bench", "content": map[string]any{"difference": i}})
	return message.NewInline(acc, message.TypePost, "BENCH", string(content), now)
}

func metric(r *prometheus.Registry, name, label, value string) float64 {
	total, _ := prom.SumCounter(r, name, label, value)
	return total
}

func histSum(r *prometheus.Registry, name string) float64 {
	mfs, _ := r.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	return 0
}
