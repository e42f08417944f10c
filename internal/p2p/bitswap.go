package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ipfs/boxo/bitswap"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/prometheus/client_golang/prometheus"
)

// Bitswap (the IPFS block exchange, /ipfs/bitswap/*) runs on the service's
// host while Run runs, when the service has a blockstore: it serves the
// blocks of the IPFS files the node holds to any peer (kubo included), and
// Fetch uses it to get IPFS files from the connected peers. Blocks are
// addressed by their hash, so a peer cannot send a wrong block; the node
// still re-hashes the file it gets, as for HTTP.

// errStalled ends a bitswap download that received nothing for a whole
// FetchTimeout.
var errStalled = errors.New("bitswap: no block from any connected peer in time")

// SetBlockstore sets the blockstore that bitswap serves blocks from, as
// Config.Blockstore does, for a store opened after the service was
// created (the core node opens its file store in node.New, which takes
// the service as its Fetcher). Call it before Run; nil disables bitswap.
func (s *Service) SetBlockstore(bs blockstore.Blockstore) {
	s.mu.Lock()
	s.cfg.Blockstore = bs
	s.mu.Unlock()
}

// startBitswap starts bitswap on the host, if the service has a
// blockstore, until ctx ends. The returned function stops it.
func (s *Service) startBitswap(ctx context.Context) (stop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Blockstore == nil {
		return func() {}
	}
	// No content routing (nil finder): sessions ask the connected peers.
	bs := bitswap.New(ctx, bsnet.NewFromIpfsHost(s.host), nil, s.cfg.Blockstore,
		// Received blocks are not written to the store (see fetchBitswap):
		// do not look each one up there to count duplicates.
		bitswap.WithoutDuplicatedBlockStats())
	s.bswap = bs
	return func() {
		s.mu.Lock()
		s.bswap = nil
		s.mu.Unlock()
		bs.Close()
	}
}

func (s *Service) bitswap() *bitswap.Bitswap {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bswap
}

// fetchBitswap returns a reader of the UnixFS file c, fetched block by
// block from the connected peers in one bitswap session. It fails with
// ErrNotFound when no peer sends the root block within FetchTimeout; the
// reader fails with errStalled when no block comes for that long. Fetched
// blocks are not kept: the caller stores the file, which re-hashes it.
func (s *Service) fetchBitswap(ctx context.Context, bs *bitswap.Bitswap, c cid.Cid) (io.ReadCloser, error) {
	if len(s.host.Network().Peers()) == 0 {
		return nil, fmt.Errorf("bitswap: no connected peer: %w", ErrNotFound)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	w := newWatchdog(s.cfg.FetchTimeout, cancel)
	// The client alone is the exchange: the server has nothing to announce
	// about blocks that are not stored.
	bserv := blockservice.New(blockstore.NewIdStore(discardStore{}), bs.Client)
	ng := merkledag.NewSession(ctx, merkledag.NewDAGService(bserv))
	w.start()
	root, err := ng.Get(ctx, c)
	w.stop()
	if err == nil {
		var dr uio.DagReader
		if dr, err = uio.NewDagReader(ctx, root, ng); err == nil {
			return &bitswapReader{dr: dr, w: w, ctx: ctx, cancel: cancel}, nil
		}
	}
	stalled := errors.Is(context.Cause(ctx), errStalled)
	cancel(context.Canceled)
	if stalled {
		return nil, fmt.Errorf("bitswap: no connected peer sent it within %s: %w", s.cfg.FetchTimeout, ErrNotFound)
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil, err
	}
	return nil, fmt.Errorf("bitswap: %w", err)
}

// bitswapReader reads a file fetched over bitswap; each Read waits at most
// FetchTimeout for blocks. Close ends the session.
type bitswapReader struct {
	dr     uio.DagReader
	w      *watchdog
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (r *bitswapReader) Read(p []byte) (int, error) {
	r.w.start()
	n, err := r.dr.Read(p)
	r.w.stop()
	if err != nil && err != io.EOF && errors.Is(context.Cause(r.ctx), errStalled) {
		err = errStalled
	}
	return n, err
}

func (r *bitswapReader) Close() error {
	r.cancel(context.Canceled)
	return r.dr.Close()
}

// watchdog cancels a context when a wait lasts longer than its timeout. It
// keeps one context for the whole download, so that the blocks the DAG
// reader prefetches are not cancelled after every Read.
type watchdog struct {
	timeout time.Duration
	cancel  context.CancelCauseFunc
	mu      sync.Mutex
	t       *time.Timer
}

func newWatchdog(timeout time.Duration, cancel context.CancelCauseFunc) *watchdog {
	return &watchdog{timeout: timeout, cancel: cancel}
}

func (w *watchdog) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.t == nil {
		w.t = time.AfterFunc(w.timeout, func() { w.cancel(errStalled) })
	} else {
		w.t.Reset(w.timeout)
	}
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Stop()
}

// discardStore is a blockstore that keeps nothing: the blockservice of a
// bitswap download asks it first (a miss) and writes each fetched block to
// it (dropped), so memory stays flat whatever the file's size.
type discardStore struct{}

var _ blockstore.Blockstore = discardStore{}

func (discardStore) DeleteBlock(context.Context, cid.Cid) error    { return nil }
func (discardStore) Has(context.Context, cid.Cid) (bool, error)    { return false, nil }
func (discardStore) Put(context.Context, blocks.Block) error       { return nil }
func (discardStore) PutMany(context.Context, []blocks.Block) error { return nil }

func (discardStore) Get(_ context.Context, c cid.Cid) (blocks.Block, error) {
	return nil, ipld.ErrNotFound{Cid: c}
}

func (discardStore) GetSize(_ context.Context, c cid.Cid) (int, error) {
	return -1, ipld.ErrNotFound{Cid: c}
}

func (discardStore) AllKeysChan(context.Context) (<-chan cid.Cid, error) {
	ch := make(chan cid.Cid)
	close(ch)
	return ch, nil
}

func newBitswapFetches() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_p2p_bitswap_fetches_total",
		Help: "IPFS files fetched from the connected peers over bitswap, by result: found (the root block came; the node re-hashes the file), not_found (no peer sent it in time), error."},
		[]string{"result"})
	for _, r := range []string{"found", "not_found", "error"} {
		c.WithLabelValues(r)
	}
	return c
}
