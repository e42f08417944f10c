package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipld/merkledag"
	cid "github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// idleNode is a core node that never has messages: these tests exercise
// the content exchange only.
type idleNode struct{}

func (idleNode) Submit(context.Context, *message.Message, string, bool) (store.Status, error) {
	return "", errors.New("idle node")
}
func (idleNode) VerifySignature(*message.Message) error { return errors.New("idle node") }
func (idleNode) Subscribe(int) (<-chan *store.Record, func()) {
	return make(chan *store.Record), func() {}
}

// runService starts a service on a loopback port with a file store of its
// own, runs it until the test ends and waits until bitswap runs.
func runService(t testing.TB, fetchTimeout time.Duration) (*Service, *files.Store) {
	t.Helper()
	fs, err := files.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	s, err := New(Config{DataDir: t.TempDir(), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		SyncPeriod: -1, FetchTimeout: fetchTimeout, Blockstore: fs.Blockstore(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s.SetNode(idleNode{})
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for s.bitswap() == nil {
		if time.Now().After(deadline) {
			t.Fatal("bitswap did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s, fs
}

func connect(t testing.TB, a, b *Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := a.host.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if a.host.Network().Connectedness(b.ID()) != network.Connected {
		t.Fatal("not connected")
	}
}

func TestBitswapFetch(t *testing.T) {
	_, afs, b, bfs := runPair(t, 5*time.Second)

	// A 1 MiB file (a tree of 4 chunks, CIDv0) and a one-block file with a
	// raw leaf (CIDv1).
	for _, tc := range []struct {
		size    int
		version int
	}{{1 << 20, 0}, {1000, 1}} {
		data := randomBytes(tc.size)
		info, err := afs.Add(t.Context(), files.IPFS, bytes.NewReader(data), files.AddOptions{CIDVersion: tc.version})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		rc, err := b.Fetch(ctx, info.Hash)
		if err != nil {
			cancel()
			t.Fatalf("fetch %s: %v", info.Hash, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		cancel()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("fetch %s: %d bytes, %v; want the %d bytes stored on A", info.Hash, len(got), err, len(data))
		}
		// Nothing was written to B's store: the node stores what it
		// re-hashed, not the blocks.
		if ok, err := bfs.Has(t.Context(), info.Hash); ok || err != nil {
			t.Errorf("B's store has %s after a fetch: %v %v", info.Hash, ok, err)
		}
	}
	if v := testutil.ToFloat64(b.bitswapFetches.WithLabelValues("found")); v != 2 {
		t.Errorf("bitswap fetches found = %v, want 2", v)
	}
	if n := testutil.CollectAndCount(b.m.fetches); n != 0 {
		t.Errorf("%d series of HTTP fetches, want none", n)
	}
}

// TestBitswapFetchMissing asks for a CID that no peer has: Fetch fails
// with ErrNotFound once the fetch timeout has passed, not later.
func TestBitswapFetchMissing(t *testing.T) {
	const timeout = time.Second
	_, _, b, _ := runPair(t, timeout)
	data := randomBytes(100)
	hash, err := files.CID(bytes.NewReader(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	rc, err := b.Fetch(ctx, hash)
	elapsed := time.Since(start)
	if err == nil {
		rc.Close()
		t.Fatal("fetched a file no peer has")
	}
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("error %v, want ErrNotFound", err)
	}
	t.Logf("%v after %v", err, elapsed)
	if elapsed < timeout || elapsed > 10*timeout {
		t.Errorf("failed after %v, want about the fetch timeout %v", elapsed, timeout)
	}
	if v := testutil.ToFloat64(b.bitswapFetches.WithLabelValues("not_found")); v != 1 {
		t.Errorf("bitswap fetches not_found = %v, want 1", v)
	}
}

// TestBitswapFetchStalls has A serve a file's root block but not one of
// its leaves (removed from the blocks A serves): the download fails once
// no block came for the fetch timeout, instead of hanging.
func TestBitswapFetchStalls(t *testing.T) {
	const timeout = time.Second
	_, afs, b, _ := runPair(t, timeout)
	data := randomBytes(1 << 20)
	info, err := afs.Add(t.Context(), files.IPFS, bytes.NewReader(data), files.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	root, err := afs.Blockstore().Get(t.Context(), cid.MustParse(info.Hash))
	if err != nil {
		t.Fatal(err)
	}
	nd, err := merkledag.DecodeProtobuf(root.RawData())
	if err != nil {
		t.Fatal(err)
	}
	if err := afs.Blockstore().DeleteBlock(t.Context(), nd.Links()[2].Cid); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rc, err := b.Fetch(ctx, info.Hash)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	start := time.Now()
	got, err := io.ReadAll(rc)
	elapsed := time.Since(start)
	t.Logf("read %d bytes, then %v after %v", len(got), err, elapsed)
	if !errors.Is(err, errStalled) {
		t.Fatalf("read error %v, want errStalled", err)
	}
	if len(got) > 2*256<<10 || !bytes.Equal(got, data[:len(got)]) {
		t.Errorf("read %d bytes before the missing third chunk, not a prefix of the file", len(got))
	}
	if elapsed > 10*timeout {
		t.Errorf("failed after %v, want about the fetch timeout %v", elapsed, timeout)
	}
}

// BenchmarkBitswapFetch fetches a 16 MiB file (CIDv0) from a peer on
// loopback and reads it to the end.
func BenchmarkBitswapFetch(b *testing.B) {
	_, afs, c, _ := runPair(b, 5*time.Second)
	data := randomBytes(16 << 20)
	info, err := afs.Add(b.Context(), files.IPFS, bytes.NewReader(data), files.AddOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		rc, err := c.Fetch(b.Context(), info.Hash)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != int64(len(data)) {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}

// runPair runs two services with fetchTimeout, b connected to a, and
// returns them with their file stores.
func runPair(t testing.TB, fetchTimeout time.Duration) (a *Service, afs *files.Store, b *Service, bfs *files.Store) {
	t.Helper()
	a, afs = runService(t, fetchTimeout)
	b, bfs = runService(t, fetchTimeout)
	connect(t, b, a)
	return a, afs, b, bfs
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
