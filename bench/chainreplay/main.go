// Command chainreplay measures how fast a core node rebuilds its history
// from the chain, next to how fast the same kind of node ingests the same
// messages over its HTTP API, in one run on this machine.
//
// In this process it starts an in-process go-ethereum dev chain (blocks
// every -block-interval) with the AlephSync contract, and a packer node
// (SQLite, bitswap on, peer-to-peer sync off, the packer anchoring up to
// -batch messages per archive every -commit-delay). It then:
//
//  1. builds and signs a workload of -n messages of every type
//     (internal/chain/replaytest: posts, amends, aggregates, stores on both
//     engines, non-inline posts, programs, forgets, in three phases) — not
//     timed;
//  2. ingest: POSTs each phase to the packer node's /api/v0/messages over
//     -c keep-alive connections, each message processed before its answer;
//     the ingest rate is the messages over the time spent posting (the
//     waits for the packer between phases are left out);
//  3. waits until every message is anchored and confirmed by the packer
//     node's own chain reader;
//  4. replay: starts a fresh node (-replay-db: SQLite by default, or a
//     PostgreSQL URL) that knows only the chain RPC and the packer node as
//     HTTP and bitswap peer, with the peer-to-peer sync off; the replay rate
//     is the messages over the time from its start until it holds every
//     processed and forgotten message with nothing pending (reading the
//     events, fetching the archives and the files, checking and processing
//     every message);
//  5. unless -check=false, compares the two nodes' statuses,
//     confirmations, forgotten messages, posts and aggregates.
//
// It prints both rates, the load average and the CPU other processes used,
// then one "RESULT key=value …" line. It measures; it asserts nothing
// (beyond the comparison, whose failure is an error).
//
//	go run ./bench/chainreplay              # 100,000 messages
//	go run ./bench/chainreplay -n 20000 -replay-db postgres://…
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/goaleph/goaleph/bench/internal/benchutil"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/chain/chainsync"
	"github.com/goaleph/goaleph/internal/chain/devchain"
	"github.com/goaleph/goaleph/internal/chain/packer"
	"github.com/goaleph/goaleph/internal/chain/replaytest"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/p2p"
)

type config struct {
	n, c, batch   int
	commitDelay   time.Duration
	blockInterval time.Duration
	replayDB      string
	check         bool
	verbose       bool
	timeout       time.Duration
}

func main() {
	var cfg config
	flag.IntVar(&cfg.n, "n", 100_000, "messages of the workload")
	flag.IntVar(&cfg.c, "c", 64, "concurrent HTTP connections of the ingest")
	flag.IntVar(&cfg.batch, "batch", packer.DefaultMaxMessages, "messages per archive at most")
	flag.DurationVar(&cfg.commitDelay, "commit-delay", time.Second, "the packer's commit delay")
	flag.DurationVar(&cfg.blockInterval, "block-interval", 200*time.Millisecond, "time between two blocks of the dev chain")
	flag.StringVar(&cfg.replayDB, "replay-db", "", "database URL of the replaying node (default: SQLite in its data directory)")
	flag.BoolVar(&cfg.check, "check", true, "compare the replaying node's state with the packer node's")
	flag.BoolVar(&cfg.verbose, "v", false, "print the nodes' logs")
	flag.DurationVar(&cfg.timeout, "timeout", time.Hour, "give up after this long")
	flag.Parse()
	if _, err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "chainreplay:", err)
		os.Exit(1)
	}
}

// role is a running core node role.
type role struct {
	*node.Role
	api  *client.Client
	stop func() error
}

func startRole(ctx context.Context, rc node.RoleConfig) (*role, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc.Listener = ln
	r, err := node.NewRole(ctx, rc)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	select {
	case <-r.Ready():
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("node stopped: %w", err)
	}
	return &role{Role: r, api: client.New(r.URL()), stop: func() error { cancel(); return <-done }}, nil
}

// result is what a run measured.
type result struct {
	messages, archives int
	ingest, replay     float64 // msg/s
	equal              bool    // compared, and equal
}

func run(cfg config) (res result, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if cfg.verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	dir, err := os.MkdirTemp("", "chainreplay-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	chain, err := devchain.New(devchain.Config{BlockInterval: cfg.blockInterval})
	if err != nil {
		return res, err
	}
	defer chain.Close()
	contract, err := chain.DeploySync(ctx)
	if err != nil {
		return res, err
	}
	packerAcct := chain.Accounts()[1]
	chainCfg := func(emitters ...string) chainsync.Config {
		return chainsync.Config{RPC: chain.URL(), SyncContract: contract.Hex(),
			Emitters: append([]string{chainsync.MainnetEmitter}, emitters...), Confirmations: 2, StartHeight: 0,
			PollInterval: 100 * time.Millisecond, RetryBase: 100 * time.Millisecond, MaxBackoff: 2 * time.Second,
			ArchiveTimeout: 2 * time.Minute}
	}

	fmt.Printf("signing %d messages…\n", cfg.n)
	t0 := time.Now()
	w, err := replaytest.New(cfg.n, 1, time.Now().Add(-24*time.Hour))
	if err != nil {
		return res, err
	}
	fmt.Printf("signed %d messages %v and %d files in %.1f s\n", w.Len(), w.Counts(), len(w.Files), time.Since(t0).Seconds())

	src, err := startRole(ctx, node.RoleConfig{
		Node:  node.Config{DataDir: dir + "/packer", Logger: logger},
		P2P:   p2p.Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, SyncPeriod: -1},
		Chain: chainCfg(),
		Packer: packer.Config{Key: packerAcct.KeyHex(), CommitDelay: cfg.commitDelay, MaxMessages: cfg.batch,
			FollowInterval: 100 * time.Millisecond, RetryBase: 100 * time.Millisecond, MaxBackoff: 2 * time.Second},
	})
	if err != nil {
		return res, err
	}
	defer src.stop()
	db := src.Node().Store()
	if err := replaytest.AddFiles(ctx, src.Node(), w.Files); err != nil {
		return res, err
	}

	busy0, _ := benchutil.MachineBusy()
	cpu0, wall0 := benchutil.OwnCPU(), time.Now()
	var ingest time.Duration
	for i, phase := range w.Phases {
		t := time.Now()
		if err := replaytest.Submit(ctx, src.api, phase, cfg.c); err != nil {
			return res, fmt.Errorf("phase %d: %w", i, err)
		}
		took := time.Since(t)
		ingest += took
		fmt.Printf("ingest phase %d: %d messages in %.1f s (%.0f msg/s)\n", i, len(phase), took.Seconds(), float64(len(phase))/took.Seconds())
		if err := replaytest.WaitPacked(ctx, db); err != nil {
			return res, err
		}
	}
	t := time.Now()
	if err := replaytest.WaitConfirmed(ctx, db, chainsync.Chain); err != nil {
		return res, err
	}
	batches, err := anchoredBatches(src)
	if err != nil {
		return res, err
	}
	fmt.Printf("anchored in %d archives; last confirmations %.1f s after the last phase was packed\n", batches, time.Since(t).Seconds())
	want, err := replaytest.Snapshot(ctx, db)
	if err != nil {
		return res, err
	}
	fmt.Printf("packer node: %v, %d posts, %d aggregates\n", want.ByStatus(), len(want.Posts), len(want.Aggregates))

	pc := p2p.Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, SyncPeriod: -1,
		HTTPPeers: []string{src.URL()}, Bootstrap: src.P2P().Addrs()}
	start := time.Now()
	fresh, err := startRole(ctx, node.RoleConfig{
		Node:  node.Config{DataDir: dir + "/replay", Logger: logger, DatabaseURL: cfg.replayDB},
		P2P:   pc,
		Chain: chainCfg(packerAcct.Address.Hex()),
	})
	if err != nil {
		return res, err
	}
	defer fresh.stop()
	if err := replaytest.WaitCount(ctx, fresh.Node().Store(), int64(want.Count())); err != nil {
		return res, err
	}
	replay := time.Since(start)
	wall := time.Since(wall0).Seconds()
	busy1, _ := benchutil.MachineBusy()
	others := max(busy1-busy0-(benchutil.OwnCPU()-cpu0), 0) / wall
	ingestRate := float64(w.Len()) / ingest.Seconds()
	replayRate := float64(want.Count()) / replay.Seconds()
	fmt.Printf("replay: %d messages from %d archives in %.1f s\n", want.Count(), batches, replay.Seconds())
	fmt.Printf("\n  HTTP ingest  %8.0f msg/s  (%d connections, sync)\n  chain replay %8.0f msg/s  (events to processed)\n  replay/ingest %.2f; load average %s; other processes used %.2f CPUs\n\n",
		ingestRate, cfg.c, replayRate, replayRate/ingestRate, loadAvg(), others)
	equal := "unchecked"
	if cfg.check {
		got, err := replaytest.Snapshot(ctx, fresh.Node().Store())
		if err != nil {
			return res, err
		}
		if err := replaytest.Compare(want, got); err != nil {
			return res, err
		}
		equal, res.equal = "yes", true
		fmt.Println("the replaying node holds exactly the packer node's state")
	}
	res.messages, res.archives, res.ingest, res.replay = want.Count(), batches, ingestRate, replayRate
	backend := "sqlite"
	if strings.HasPrefix(cfg.replayDB, "postgres") {
		backend = "postgres"
	}
	fmt.Printf("RESULT n=%d archives=%d backend=%s ingest_msgs_per_s=%.0f replay_msgs_per_s=%.0f replay_seconds=%.1f equal=%s load=%s other_cpus=%.2f\n",
		want.Count(), batches, backend, ingestRate, replayRate, replay.Seconds(), equal, strings.ReplaceAll(loadAvg(), " ", "/"), others)
	return res, nil
}

// anchoredBatches reads aleph_packer_batches_anchored_total.
func anchoredBatches(r *role) (int, error) {
	mfs, err := r.Node().Registry().Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == "aleph_packer_batches_anchored_total" {
			return int(mf.GetMetric()[0].GetCounter().GetValue()), nil
		}
	}
	return 0, errors.New("no aleph_packer_batches_anchored_total")
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
