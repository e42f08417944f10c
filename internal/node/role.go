package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/goaleph/goaleph/internal/chain/chainsync"
	"github.com/goaleph/goaleph/internal/chain/packer"
	"github.com/goaleph/goaleph/internal/lifecycle"
	"github.com/goaleph/goaleph/internal/p2p"
)

// RoleConfig is the configuration of the core node role (aleph node run,
// each node of a devnet): the node itself and its peer-to-peer service.
// Its settings table (settings.go) describes every key once.
type RoleConfig struct {
	Node Config
	// P2P configures the peer-to-peer service; DataDir, Version and Logger
	// are taken from Node when empty. APIURL is announced as given (empty:
	// none).
	P2P p2p.Config
	// NoP2P runs the node alone.
	NoP2P bool
	// Chain configures the chain sync service, run when Chain.RPC is set;
	// its Logger is Node's when empty.
	Chain chainsync.Config
	// Packer configures the packer, run when Packer.Key is set (it needs
	// Chain.RPC); its RPC, contract and confirmations are Chain's, and
	// its account is added to Chain's emitters.
	Packer packer.Config
	// LogLevel is debug, info, warn or error (used by the CLI to build
	// Node.Logger).
	LogLevel string
	// Listener, when set, is the API listener, served instead of listening
	// on Node.Listen. The role owns it: NewRole closes it when it fails.
	Listener net.Listener
	// Token configures the ERC-20 token follower (token.go); off unless
	// Token.Enabled.
	Token TokenConfig
}

// Role is the core node role built by NewRole: the core node and, unless
// RoleConfig.NoP2P, its p2p service, and, when RoleConfig.Chain has an
// RPC, its chain sync service, run together in one lifecycle.Group.
// It satisfies lifecycle.Service, lifecycle.Readier and io.Closer.
type Role struct {
	node   *Node
	p2p    *p2p.Service
	chain  *chainsync.Service
	packer *packer.Service
	ln     net.Listener
	group  lifecycle.Group
	ready  chan struct{}
}

var (
	_ lifecycle.Service = (*Role)(nil)
	_ lifecycle.Readier = (*Role)(nil)
	_ lifecycle.Service = (*Node)(nil)
	_ lifecycle.Readier = (*Node)(nil)
	_ lifecycle.Service = (*p2p.Service)(nil)
	_ lifecycle.Readier = (*p2p.Service)(nil)
)

// NewRole listens on the API address (unless rc.Listener is given), starts
// the p2p host (it listens at once), opens the node's stores and wires the
// two: the p2p service fetches the files the node misses, serves its IPFS
// files over bitswap, feeds it the messages it receives and registers its
// metrics beside the node's. Run runs the role; Close releases one that is
// never run.
func NewRole(ctx context.Context, rc RoleConfig) (_ *Role, err error) {
	cfg := rc.Node
	cfg.defaults()
	r := &Role{ln: rc.Listener, ready: make(chan struct{})}
	if r.ln == nil {
		if r.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if !rc.NoP2P {
		pc := rc.P2P
		if pc.DataDir == "" {
			pc.DataDir = cfg.DataDir
		}
		if pc.Version == "" {
			pc.Version = Version
		}
		if pc.Logger == nil {
			pc.Logger = cfg.Logger
		}
		if r.p2p, err = p2p.New(pc); err != nil {
			return nil, fmt.Errorf("p2p: %w", err)
		}
		if cfg.Fetcher == nil {
			cfg.Fetcher = r.p2p
		}
	}
	if r.node, err = New(ctx, cfg); err != nil {
		return nil, err
	}
	r.node.ln = r.ln
	r.group.Add("node", r.node)
	if r.p2p != nil {
		r.p2p.SetBlockstore(r.node.Files().Blockstore()) // bitswap serves the node's IPFS files
		if err := r.p2p.Register(r.node.Registry()); err != nil {
			return nil, err
		}
		r.p2p.SetNode(r.node)
		// Started once the node serves, stopped before it: it feeds nothing
		// to a closing node.
		r.group.Add("p2p", r.p2p)
	}
	if rc.Packer.Enabled() && !rc.Chain.Enabled() {
		return nil, errors.New("packer: a chain RPC (chain.ethereum.rpc) is needed")
	}
	if rc.Chain.Enabled() {
		cc := rc.Chain
		if cc.Logger == nil {
			cc.Logger = cfg.Logger
		}
		if rc.Packer.Enabled() {
			if err := r.addPacker(ctx, &cc, rc.Packer); err != nil {
				return nil, err
			}
		}
		if r.chain, err = chainsync.New(ctx, cc, r.node); err != nil {
			return nil, err
		}
		if err := r.chain.Register(r.node.Registry()); err != nil {
			return nil, err
		}
		// Started last: it feeds the node what it reads, and its archives
		// come through the node's peers.
		r.group.Add("chain", r.chain)
		if r.packer != nil {
			// After the reader: the reader confirms what the packer anchors.
			r.group.Add("packer", r.packer)
		}
	}
	if rc.Token.Enabled {
		f, err := newTokenFollower(ctx, rc.Token, rc.Chain.RPCTimeout, r.node)
		if err != nil {
			return nil, fmt.Errorf("token follower: %w", err)
		}
		r.group.Add("token", f) // writes balances through the node's store: stops before it
	}
	return r, nil
}

// addPacker builds the packer on the chain cc follows and makes cc accept
// the packer's own SyncEvents.
func (r *Role) addPacker(ctx context.Context, cc *chainsync.Config, pc packer.Config) (err error) {
	from, err := packer.Address(pc.Key)
	if err != nil {
		return err
	}
	if len(cc.Emitters) == 0 {
		cc.Emitters = []string{chainsync.MainnetEmitter}
	}
	cc.Emitters = append(slices.Clone(cc.Emitters), from.Hex())
	pc.RPC, pc.SyncContract, pc.Confirmations, pc.RPCTimeout = cc.RPC, cc.SyncContract, cc.Confirmations, cc.RPCTimeout
	if pc.SyncContract == "" {
		pc.SyncContract = chainsync.MainnetSyncContract
	}
	if pc.Logger == nil {
		pc.Logger = cc.Logger
	}
	if r.packer, err = packer.New(ctx, pc, r.node); err != nil {
		return err
	}
	return r.packer.Register(r.node.Registry())
}

// Node returns the core node.
func (r *Role) Node() *Node { return r.node }

// P2P returns the p2p service (nil with RoleConfig.NoP2P).
func (r *Role) P2P() *p2p.Service { return r.p2p }

// Addr returns the address the API listens on.
func (r *Role) Addr() net.Addr { return r.ln.Addr() }

// URL returns the API base URL, http://host:port.
func (r *Role) URL() string { return "http://" + r.ln.Addr().String() }

// Ready is closed once the node serves its API and the p2p service has
// joined its topics.
func (r *Role) Ready() <-chan struct{} { return r.ready }

// Run runs the node, then the p2p service once the node is ready, until ctx
// ends or one of them fails, which stops the other; the p2p service stops
// first. It returns the first error, prefixed with "node: " or "p2p: ".
// Everything the role holds is released on return. A role runs once.
func (r *Role) Run(ctx context.Context) error {
	done := make(chan struct{})
	defer close(done)
	waits := []<-chan struct{}{r.node.Ready()}
	if r.p2p != nil {
		waits = append(waits, r.p2p.Ready())
	}
	go func() {
		for _, w := range waits {
			select {
			case <-w:
			case <-done:
				return
			}
		}
		close(r.ready)
	}()
	return r.group.Run(ctx)
}

// Close releases a role that is never run: the listener, the node's stores,
// the p2p host and the chain client. After Run it does nothing.
func (r *Role) Close() error {
	if r.packer != nil {
		r.packer.Close()
	}
	if r.chain != nil {
		r.chain.Close()
	}
	if r.node != nil {
		r.node.Close()
	} else if r.ln != nil {
		r.ln.Close()
	}
	if r.p2p != nil {
		return r.p2p.Close()
	}
	return nil
}
