package packer_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/chain/chainsync"
	"github.com/goaleph/goaleph/internal/chain/packer"
	"github.com/goaleph/goaleph/internal/chain/replaytest"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/p2p"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/message"
)

// rebuildMessages is the size of TestRebuildFromChain's workload:
// ALEPH_REBUILD_MESSAGES, default 1,000 (still in 20 archives; about a
// minute under -race on 2 loaded cores). The acceptance run is
// ALEPH_REBUILD_MESSAGES=10000 (docs/chain.md has its figures).
func rebuildMessages(t *testing.T) int {
	n := 1000
	if v := os.Getenv("ALEPH_REBUILD_MESSAGES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 200 {
			t.Fatalf("ALEPH_REBUILD_MESSAGES=%q: want a number ≥ 200", v)
		}
	}
	return n
}

// minArchives is how many archives the workload must be anchored in at
// least: the packer's batches are bounded to make that many.
const minArchives = 20

// TestRebuildFromChain: messages of every type (posts, amends,
// aggregates, stores of both engines, non-inline posts, programs,
// forgets), anchored by a packer node in at least 20 archives on the dev
// chain, are replayed by fresh nodes that know only the chain RPC and a
// peer to fetch archives and files from, with the peer-to-peer sync off;
// each ends with exactly the packer node's processed and forgotten
// messages, confirmations, posts and aggregates. One fresh node is on
// SQLite and fetches over bitswap and HTTP, the other on PostgreSQL over
// HTTP only.
func TestRebuildFromChain(t *testing.T) {
	n := rebuildMessages(t)
	b := newBench(t)
	// Every wait is bounded by the bench's context: give it the time of
	// three passes over the messages at 10 msg/s (-race on loaded cores
	// runs at 25 or more) on top of the usual bound.
	var cancel context.CancelFunc
	b.ctx, cancel = context.WithTimeout(context.Background(), 4*waitTimeout+time.Duration(n)*300*time.Millisecond)
	t.Cleanup(cancel)
	w, err := replaytest.New(n, 1, time.Now().Add(-time.Hour))
	check(t, err)
	maxBatch := (w.Len() + minArchives - 1) / minArchives
	src := b.startRole(t, node.RoleConfig{
		Node:  node.Config{DataDir: b.dataDir},
		P2P:   p2p.Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, SyncPeriod: -1},
		Chain: b.chainConfig(nil),
		Packer: packer.Config{Key: b.chain.Accounts()[packerAccount].KeyHex(), CommitDelay: time.Second, MaxMessages: maxBatch,
			FollowInterval: 50 * time.Millisecond, RetryBase: 50 * time.Millisecond, MaxBackoff: time.Second},
	})
	db := src.role.Node().Store()
	start := time.Now()
	check(t, replaytest.AddFiles(b.ctx, src.role.Node(), w.Files))
	for i, phase := range w.Phases {
		check(t, replaytest.Submit(b.ctx, src.api, phase, 16))
		check(t, replaytest.WaitPacked(b.ctx, db))
		t.Logf("phase %d: %d messages posted and packed (%v)", i, len(phase), time.Since(start).Round(time.Millisecond))
	}
	check(t, replaytest.WaitConfirmed(b.ctx, db, chainsync.Chain))
	t.Logf("%d messages %v posted and confirmed in %v", w.Len(), w.Counts(), time.Since(start).Round(time.Millisecond))
	want, err := replaytest.Snapshot(b.ctx, db)
	check(t, err)
	batches := int(counter(t, src, "aleph_packer_batches_anchored_total"))
	t.Logf("packer node: %v, %d posts, %d aggregates, %d archives", want.ByStatus(), len(want.Posts), len(want.Aggregates), batches)
	if batches < minArchives {
		t.Fatalf("%d archives, want at least %d", batches, minArchives)
	}
	checkWorkload(t, w, want)

	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			cfg := node.Config{DataDir: t.TempDir()}
			pc := p2p.Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, SyncPeriod: -1, HTTPPeers: []string{src.role.URL()}}
			if backend == "postgres" {
				cfg.DatabaseURL = pgtest.Start(t)
			} else {
				pc.Bootstrap = src.role.P2P().Addrs() // bitswap
			}
			start := time.Now()
			fresh := b.startRole(t, node.RoleConfig{Node: cfg, P2P: pc,
				Chain: b.chainConfig([]string{b.chain.Accounts()[packerAccount].Address.Hex()})})
			check(t, replaytest.WaitCount(b.ctx, fresh.role.Node().Store(), int64(want.Count())))
			took := time.Since(start)
			got, err := replaytest.Snapshot(b.ctx, fresh.role.Node().Store())
			check(t, err)
			if err := replaytest.Compare(want, got); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: replayed %d messages from %d archives in %v: %.0f msg/s", backend, got.Count(), batches,
				took.Round(time.Millisecond), float64(got.Count())/took.Seconds())
			if v := labelled(t, fresh, "aleph_p2p_gossip_messages_in_total", "topic", p2p.MessageTopic); v != 0 {
				t.Errorf("the fresh node received %v gossip messages", v)
			}
			if got := labelled(t, fresh, "aleph_chain_archives_total", "outcome", "fetched"); got < float64(batches) {
				t.Errorf("%v archives fetched, want %d", got, batches)
			}
			if bitswap := labelled(t, fresh, "aleph_p2p_bitswap_fetches_total", "result", "found"); (backend == "sqlite") != (bitswap > 0) {
				t.Errorf("%s: %v files fetched over bitswap", backend, bitswap)
			}
		})
	}
}

// checkWorkload checks that the packer node holds the workload: every
// message processed or forgotten, forgotten ones among them, some of
// every type.
func checkWorkload(t *testing.T, w *replaytest.Workload, s *replaytest.State) {
	t.Helper()
	if s.Count() != w.Len() {
		t.Fatalf("packer node: %d processed and forgotten messages, want the workload's %d", s.Count(), w.Len())
	}
	types := map[message.Type]int{}
	for _, r := range s.Messages {
		types[r.Type]++
	}
	for _, typ := range []message.Type{message.TypePost, message.TypeAggregate, message.TypeStore, message.TypeForget, message.TypeProgram} {
		if types[typ] == 0 {
			t.Errorf("packer node: no processed %s", typ)
		}
	}
	if st := s.ByStatus(); st[store.StatusForgotten] == 0 {
		t.Errorf("packer node: nothing forgotten: %v", st)
	}
	amended := 0
	for _, p := range s.Posts {
		if p.Latest != nil {
			amended++
		}
	}
	if amended == 0 {
		t.Error("packer node: no amended post")
	}
}

// chainConfig is the chain sync configuration of the bench's nodes; extra
// emitters are added to the mainnet one.
func (b *bench) chainConfig(emitters []string) chainsync.Config {
	return chainsync.Config{RPC: b.chain.URL(), SyncContract: b.contract.Hex(),
		Emitters:      append([]string{chainsync.MainnetEmitter}, emitters...),
		Confirmations: 2, StartHeight: 0, PollInterval: 50 * time.Millisecond,
		RetryBase: 50 * time.Millisecond, MaxBackoff: time.Second}
}

// startRole runs a core node role with rc on a fresh loopback listener,
// stopped at the end of the test.
func (b *bench) startRole(t *testing.T, rc node.RoleConfig) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(t, err)
	rc.Listener = ln
	if rc.Node.Logger == nil {
		rc.Node.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	role, err := node.NewRole(b.ctx, rc)
	check(t, err)
	ctx, cancel := context.WithCancel(b.ctx)
	r := &running{role: role, chain: b.chain, api: client.New(role.URL()), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- role.Run(ctx) }()
	t.Cleanup(r.stop)
	select {
	case <-role.Ready():
	case err := <-r.done:
		t.Fatalf("role stopped: %v", err)
	}
	return r
}

// labelled reads the value of the series of a metric whose label is want.
func labelled(t *testing.T, r *running, name, label, want string) float64 {
	t.Helper()
	mfs, err := r.role.Node().Registry().Gather()
	check(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == want {
					return value(m)
				}
			}
		}
	}
	return 0
}
