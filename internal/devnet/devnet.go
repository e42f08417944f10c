// Package devnet runs a network of core nodes in one process: each node
// has its own data directory, embedded SQLite database, HTTP API and libp2p
// host on loopback, and all are connected to each other. Integration tests
// use it instead of wiring nodes by hand, and `aleph devnet` runs it for
// people.
package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/sync/errgroup"

	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/p2p"
)

// Config configures a network. The zero value of a field means its default.
type Config struct {
	// Nodes is the number of core nodes. Default 3.
	Nodes int
	// DataDir holds node-<i>/ for each node and the ports used (devnet.json),
	// so that a restart keeps the nodes' state, identities and ports.
	// Empty: a temporary directory, removed by Stop.
	DataDir string
	// AlivePeriod, ProbePeriod and ReconnectDelay tune the p2p services
	// (see p2p.Config). Defaults 10 s, 5 s and 5 s: a devnet converges fast.
	AlivePeriod, ProbePeriod, ReconnectDelay time.Duration
	// ReadyTimeout bounds the wait for the nodes to see each other on the
	// message topic. Default 30 s.
	ReadyTimeout time.Duration
	// NodeConfig, if set, adjusts each node's configuration before it is
	// created.
	NodeConfig func(i int, c *node.Config)
	// Logger receives the nodes' logs, tagged with node=<i>. Default: none.
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.AlivePeriod == 0 {
		c.AlivePeriod = 10 * time.Second
	}
	if c.ProbePeriod == 0 {
		c.ProbePeriod = 5 * time.Second
	}
	if c.ReconnectDelay == 0 {
		c.ReconnectDelay = 5 * time.Second
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Network is a running devnet.
type Network struct {
	nodes  []*Node
	tmp    string // removed by Stop
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed
}

// Node is one core node of a Network.
type Node struct {
	index  int
	dir    string
	apiURL string
	core   *node.Node
	p2p    *p2p.Service
	ln     net.Listener
}

// Index is the node's position in Network.Nodes.
func (n *Node) Index() int { return n.index }

// APIURL is the base URL of the node's HTTP API.
func (n *Node) APIURL() string { return n.apiURL }

// PeerID is the node's libp2p peer ID.
func (n *Node) PeerID() string { return n.p2p.ID().String() }

// P2PAddrs are the node's libp2p addresses, with /p2p/<id>.
func (n *Node) P2PAddrs() []string { return n.p2p.Addrs() }

// DataDir is the node's data directory.
func (n *Node) DataDir() string { return n.dir }

// Core returns the core node.
func (n *Node) Core() *node.Node { return n.core }

// P2P returns the node's p2p service.
func (n *Node) P2P() *p2p.Service { return n.p2p }

// Nodes returns the nodes, in order.
func (nw *Network) Nodes() []*Node { return nw.nodes }

// ports are the ports of a node, kept in devnet.json across runs.
type ports struct {
	API  int `json:"api"`
	TCP  int `json:"p2p_tcp"`
	QUIC int `json:"p2p_quic"`
}

type state struct {
	Nodes []ports `json:"nodes"`
}

const stateFile = "devnet.json"

// Start creates the nodes, connects them (full mesh: every node has all
// the others as bootstrap and HTTP peers) and returns once each sees all
// the others on the message topic. The network runs until ctx ends or
// Stop is called.
func Start(ctx context.Context, cfg Config) (_ *Network, err error) {
	cfg.defaults()
	nw := &Network{done: make(chan struct{})}
	dir := cfg.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "aleph-devnet-"); err != nil {
			return nil, err
		}
		nw.tmp = dir
	}
	var st state
	if b, err := os.ReadFile(filepath.Join(dir, stateFile)); err == nil {
		_ = json.Unmarshal(b, &st) // a bad file only loses the ports
	}
	defer func() {
		if err != nil && nw.cancel == nil { // failed before the nodes ran
			stopped, cancel := context.WithCancel(context.Background())
			cancel()
			for _, n := range nw.nodes {
				if n.core != nil {
					// Serving with an ended context closes the node's
					// stores and the listener at once.
					_ = n.core.Serve(stopped, n.ln)
				} else {
					n.ln.Close()
				}
				n.p2p.Close()
			}
			if nw.tmp != "" {
				os.RemoveAll(nw.tmp)
			}
		}
	}()
	for i := range cfg.Nodes {
		var p ports
		if i < len(st.Nodes) {
			p = st.Nodes[i]
		}
		n, err := newNode(cfg, i, filepath.Join(dir, "node-"+strconv.Itoa(i)), p)
		if err != nil {
			return nil, err
		}
		nw.nodes = append(nw.nodes, n)
	}
	for _, a := range nw.nodes {
		for _, b := range nw.nodes {
			if a == b {
				continue
			}
			for _, addr := range b.P2PAddrs() {
				if err := a.p2p.AddPeer(addr); err != nil {
					return nil, err
				}
			}
			if err := a.p2p.AddHTTPPeer(b.apiURL); err != nil {
				return nil, err
			}
		}
	}
	for i, n := range nw.nodes {
		ncfg := node.Config{DataDir: n.dir, Listen: n.ln.Addr().String(), Fetcher: n.p2p,
			Logger: cfg.Logger.With("node", i)}
		if cfg.NodeConfig != nil {
			cfg.NodeConfig(i, &ncfg)
		}
		if n.core, err = node.New(ctx, ncfg); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		if err := n.p2p.Register(n.core.Registry()); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
	}
	if cfg.DataDir != "" {
		saveState(dir, nw.nodes)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	nw.cancel = cancel
	g, gctx := errgroup.WithContext(runCtx)
	for _, n := range nw.nodes {
		g.Go(func() error { return n.core.Serve(gctx, n.ln) })
		g.Go(func() error { return n.p2p.Run(gctx, n.core) })
	}
	go func() {
		nw.err = g.Wait()
		close(nw.done)
	}()
	context.AfterFunc(ctx, cancel) // the network lives as long as ctx; Stop ends it earlier
	if err := nw.waitReady(ctx, cfg.ReadyTimeout); err != nil {
		nw.Stop()
		return nil, err
	}
	return nw, nil
}

func newNode(cfg Config, i int, dir string, p ports) (*Node, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p.API))
	if err != nil && p.API != 0 {
		cfg.Logger.Warn("devnet: API port taken, using another", "node", i, "port", p.API)
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, err
	}
	n := &Node{index: i, dir: dir, ln: ln, apiURL: "http://" + ln.Addr().String()}
	pcfg := p2p.Config{
		DataDir:        dir,
		APIURL:         n.apiURL,
		Version:        node.Version,
		AlivePeriod:    cfg.AlivePeriod,
		ProbePeriod:    cfg.ProbePeriod,
		ReconnectDelay: cfg.ReconnectDelay,
		Logger:         cfg.Logger.With("node", i),
	}
	pcfg.ListenAddrs = listenAddrs(p.TCP, p.QUIC)
	n.p2p, err = p2p.New(pcfg)
	if err != nil && (p.TCP != 0 || p.QUIC != 0) {
		cfg.Logger.Warn("devnet: p2p ports taken, using others", "node", i, "err", err)
		pcfg.ListenAddrs = listenAddrs(0, 0)
		n.p2p, err = p2p.New(pcfg)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("node %d: %w", i, err)
	}
	return n, nil
}

func listenAddrs(tcp, quic int) []string {
	return []string{
		"/ip4/127.0.0.1/tcp/" + strconv.Itoa(tcp),
		"/ip4/127.0.0.1/udp/" + strconv.Itoa(quic) + "/quic-v1",
	}
}

// saveState records the ports in use for the next run (best effort).
func saveState(dir string, nodes []*Node) {
	var st state
	for _, n := range nodes {
		p := ports{API: n.ln.Addr().(*net.TCPAddr).Port}
		for _, a := range n.p2p.Host().Addrs() {
			if v, err := a.ValueForProtocol(ma.P_TCP); err == nil {
				p.TCP, _ = strconv.Atoi(v)
			}
			if v, err := a.ValueForProtocol(ma.P_UDP); err == nil {
				p.QUIC, _ = strconv.Atoi(v)
			}
		}
		st.Nodes = append(st.Nodes, p)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	_ = os.WriteFile(filepath.Join(dir, stateFile), append(b, '\n'), 0o644)
}

// waitReady waits until every node has all the others as peers on the
// message topic, and its gossip mesh has formed (until then, it would
// forward what it receives to no one).
func (nw *Network) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	want := len(nw.nodes) - 1
	// gossipsub grafts up to D_lo = 5 peers when it has fewer.
	wantMesh := min(want, 5)
	for {
		ready := true
		for _, n := range nw.nodes {
			if len(n.p2p.TopicPeers()) < want || n.p2p.MeshPeers() < wantMesh {
				ready = false
				break
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-nw.done:
			if nw.err != nil {
				return nw.err
			}
			return errors.New("devnet stopped while starting")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devnet: nodes not connected after %s", timeout)
		}
	}
}

// Done is closed when the network has stopped (Stop, the end of the
// context given to Start, or a node failing).
func (nw *Network) Done() <-chan struct{} { return nw.done }

// Stop stops every node and waits for them; it removes the temporary data
// directory, if any. It returns the first error a node failed with.
func (nw *Network) Stop() error {
	nw.cancel()
	<-nw.done
	if nw.tmp != "" {
		os.RemoveAll(nw.tmp)
	}
	return nw.err
}
