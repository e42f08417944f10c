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
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/p2p"
	"github.com/goaleph/goaleph/internal/settings"
)

// Config configures a network. The zero value of a field means its default.
type Config struct {
	// Nodes is the number of core nodes. Default 3.
	Nodes int
	// DataDir holds node-<i>/ for each node and the ports used (devnet.json),
	// so that a restart keeps the nodes' state, identities and ports.
	// Empty: a temporary directory, removed by Stop.
	DataDir string
	// AlivePeriod, ProbePeriod, ReconnectDelay and SyncPeriod tune the p2p
	// services (see p2p.Config). Defaults 10 s, 5 s, 5 s and 10 s: a devnet
	// converges fast.
	AlivePeriod, ProbePeriod, ReconnectDelay, SyncPeriod time.Duration
	// ReadyTimeout bounds the wait for the nodes to see each other on the
	// message topic. Default 2 min: a gossip mesh whose first graft was
	// pruned forms only after gossipsub's one-minute prune backoff, which
	// happens on loaded machines; a ready network returns at once.
	ReadyTimeout time.Duration
	// NodeConfig, if set, adjusts each node's configuration before it is
	// created.
	NodeConfig func(i int, c *node.Config)
	// CollectGrace and CollectPeriod set every node's
	// economy.collect_grace (how long, in log time, a message its owner no
	// longer pays for stays removing before it is removed) and
	// economy.collect_period (the time between collection passes).
	// Default the node's (25 h and 30 min); a devnet test of the
	// collection sets seconds. Collection runs with quotas on, that is
	// with a Chain.
	CollectGrace, CollectPeriod time.Duration
	// Logger receives the nodes' logs, tagged with node=<i>. Default: none.
	Logger *slog.Logger
	// Compute runs one compute node (CRN) too, reading from node 0's API,
	// on a loopback port (kept in devnet.json), with its cache in
	// compute/; see ComputeURL. The compute node itself is provided by the
	// package devnet/devcrn, which registers it: import it (its blank
	// import is enough) to use Compute. Default off.
	Compute bool
	// Instances lets the compute node run INSTANCE messages too, on the
	// micro VM backend (QEMU), their SSH ports forwarded on 127.0.0.1;
	// without QEMU or a kernel the node runs none and says so in the log.
	// It needs Compute. Default off.
	Instances bool
	// ComputePaymentInterval is the period of the compute node's payment
	// check (crn.Config.PaymentInterval). Default the compute node's.
	ComputePaymentInterval time.Duration
	// Chain, when set, gives the network an Ethereum chain with the sync
	// contract and the ALEPH token, a packer on node 0, and a chain reader
	// and token follower on every node (chain.go). Default none.
	Chain *ChainConfig
	// Gateway runs a gateway too (gateway.go): reading node 0, with the
	// devnet's own ACME CA and the gateway's own DNS for GatewayZone. It
	// is provided by the package devnet/devgw: import it to use Gateway.
	// Default off.
	Gateway bool
}

// ComputeConfig is what a network gives the compute node it runs.
type ComputeConfig struct {
	CoreURL string       // API URL of node 0
	DataDir string       // the compute node's directory (cache, agent…)
	Logger  *slog.Logger // tagged with node=crn
	// Listener is the compute node's listener, which it serves and closes.
	Listener net.Listener
	// PaymentInterval is Config.ComputePaymentInterval.
	PaymentInterval time.Duration
	// Instances is Config.Instances.
	Instances bool
}

// ComputeServer is a compute node: Run serves ComputeConfig.Listener until
// ctx ends (a lifecycle.Service).
type ComputeServer interface {
	Run(ctx context.Context) error
}

// newCompute is set by RegisterCompute. The compute node lives in another
// package (devcrn) because the compute node's own tests run on a devnet:
// devnet cannot import it.
var newCompute func(context.Context, ComputeConfig) (ComputeServer, error)

// RegisterCompute sets how networks with Config.Compute make their compute
// node. The package devnet/devcrn calls it when imported.
func RegisterCompute(f func(context.Context, ComputeConfig) (ComputeServer, error)) {
	newCompute = f
}

// defaultConfig holds the defaults of Config's fields.
var defaultConfig = Config{
	Nodes:       3,
	AlivePeriod: 10 * time.Second, ProbePeriod: 5 * time.Second, ReconnectDelay: 5 * time.Second,
	SyncPeriod:   10 * time.Second,
	ReadyTimeout: 2 * time.Minute,
	Logger:       slog.New(slog.DiscardHandler),
}

func (c *Config) defaults() { settings.FillZero(c, defaultConfig) }

// Network is a running devnet.
type Network struct {
	cfg    Config
	nodes  []*Node
	dir    string // holds node-<i>/
	tmp    string // removed by Stop
	runCtx context.Context
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed

	mu      sync.Mutex
	running int   // nodes running
	failed  error // first failure of a node not stopped by StopNode
	stopped bool  // Stop or the end of the context: no node restarts

	computeURL  string
	computeDone chan struct{} // closed when the compute node has stopped

	chain     *Chain        // with Config.Chain
	chainProc *chainProcess // the dev chain the network runs, if any
	// chainRole sets node i's chain services (set by setupChain).
	chainRole   func(i int, rc *node.RoleConfig)
	gateway     GatewayServer
	gatewayDone chan struct{} // closed when the gateway has stopped
}

// Node is one core node of a Network.
type Node struct {
	index  int
	dir    string
	apiURL string
	ports  ports
	role   *node.Role // the core node and its p2p service

	cancel context.CancelFunc // stops this node
	done   chan struct{}      // closed when it has stopped
}

// Index is the node's position in Network.Nodes.
func (n *Node) Index() int { return n.index }

// APIURL is the base URL of the node's HTTP API.
func (n *Node) APIURL() string { return n.apiURL }

// PeerID is the node's libp2p peer ID.
func (n *Node) PeerID() string { return n.P2P().ID().String() }

// P2PAddrs are the node's libp2p addresses, with /p2p/<id>.
func (n *Node) P2PAddrs() []string { return n.P2P().Addrs() }

// DataDir is the node's data directory.
func (n *Node) DataDir() string { return n.dir }

// Core returns the core node.
func (n *Node) Core() *node.Node { return n.role.Node() }

// P2P returns the node's p2p service.
func (n *Node) P2P() *p2p.Service { return n.role.P2P() }

// Nodes returns the nodes, in order.
func (nw *Network) Nodes() []*Node { return nw.nodes }

// ports are the ports of a node, kept in devnet.json across runs.
type ports struct {
	API  int `json:"api"`
	TCP  int `json:"p2p_tcp"`
	QUIC int `json:"p2p_quic"`
}

type state struct {
	Nodes   []ports     `json:"nodes"`
	Compute int         `json:"compute,omitempty"` // the compute node's port
	Chain   *chainState `json:"chain,omitempty"`
}

const stateFile = "devnet.json"

// Start creates the nodes, connects them (full mesh: every node has all
// the others as bootstrap and HTTP peers) and returns once each sees all
// the others on the message topic. The network runs until ctx ends or
// Stop is called.
func Start(ctx context.Context, cfg Config) (_ *Network, err error) {
	cfg.defaults()
	nw := &Network{cfg: cfg, done: make(chan struct{})}
	dir := cfg.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "aleph-devnet-"); err != nil {
			return nil, err
		}
		nw.tmp = dir
	}
	nw.dir = dir
	var st state
	if b, err := os.ReadFile(filepath.Join(dir, stateFile)); err == nil {
		_ = json.Unmarshal(b, &st) // a bad file only loses the ports
	}
	defer func() {
		if err != nil && nw.cancel == nil { // failed before the nodes ran
			for _, n := range nw.nodes {
				n.role.Close()
			}
			nw.closeChain()
			if nw.tmp != "" {
				os.RemoveAll(nw.tmp)
			}
		}
	}()
	if cfg.Chain != nil {
		if st.Chain, err = nw.setupChain(ctx, dir, st.Chain); err != nil {
			return nil, err
		}
	}
	for i := range cfg.Nodes {
		var p ports
		if i < len(st.Nodes) {
			p = st.Nodes[i]
		}
		n, err := newNode(ctx, cfg, nw.chainRole, i, filepath.Join(dir, "node-"+strconv.Itoa(i)), p)
		if err != nil {
			return nil, err
		}
		nw.nodes = append(nw.nodes, n)
		n.ports = p
	}
	for _, n := range nw.nodes {
		if err := nw.link(n); err != nil {
			return nil, err
		}
	}
	var computeLn net.Listener
	var computeSrv ComputeServer
	if cfg.Compute {
		if computeLn, computeSrv, err = nw.newCompute(ctx, dir, st.Compute); err != nil {
			return nil, err
		}
	}
	var gw GatewayServer
	if cfg.Gateway {
		if gw, err = nw.newGateway(ctx, dir); err != nil {
			if computeLn != nil {
				computeLn.Close()
			}
			return nil, err
		}
	}
	if cfg.DataDir != "" {
		saveState(dir, nw.nodes, computeLn, st.Chain)
	}
	nw.runCtx, nw.cancel = context.WithCancel(context.Background())
	for _, n := range nw.nodes {
		nw.run(n)
	}
	if computeSrv != nil {
		nw.runCompute(computeSrv, computeLn)
	}
	if gw != nil {
		nw.runGateway(gw)
	}
	context.AfterFunc(ctx, nw.cancel) // the network lives as long as ctx; Stop ends it earlier
	go func() {
		<-nw.runCtx.Done()
		nw.mu.Lock()
		nw.stopped = true
		nw.mu.Unlock()
		if nw.computeDone != nil {
			<-nw.computeDone
		}
		if nw.gatewayDone != nil {
			<-nw.gatewayDone
		}
		nw.mu.Lock()
		nodes := nw.nodes
		nw.mu.Unlock()
		for _, n := range nodes {
			if n.done != nil {
				<-n.done
			}
		}
		nw.closeChain() // after the nodes, which read it
		nw.mu.Lock()
		nw.err = nw.failed
		nw.mu.Unlock()
		close(nw.done)
	}()
	if err := nw.waitReady(ctx, cfg.ReadyTimeout); err != nil {
		nw.Stop()
		return nil, err
	}
	return nw, nil
}

// newNode builds node i's role: its API listener on p.API and its p2p
// host on p.TCP and p.QUIC, or on other ports when those are taken; chain,
// if set, configures its chain services.
func newNode(ctx context.Context, cfg Config, chain func(int, *node.RoleConfig), i int, dir string, p ports) (*Node, error) {
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
	n := &Node{index: i, dir: dir, apiURL: "http://" + ln.Addr().String()}
	rc := node.RoleConfig{
		Node: node.Config{DataDir: dir, Listen: ln.Addr().String(), Logger: cfg.Logger.With("node", i)},
		P2P: p2p.Config{
			APIURL:         n.apiURL,
			AlivePeriod:    cfg.AlivePeriod,
			ProbePeriod:    cfg.ProbePeriod,
			ReconnectDelay: cfg.ReconnectDelay,
			SyncPeriod:     cfg.SyncPeriod,
			ListenAddrs:    listenAddrs(p.TCP, p.QUIC),
		},
		Listener: ln,
	}
	if chain != nil {
		chain(i, &rc)
	}
	rc.Node.Economy.CollectGrace, rc.Node.Economy.CollectPeriod = cfg.CollectGrace, cfg.CollectPeriod
	if cfg.NodeConfig != nil {
		cfg.NodeConfig(i, &rc.Node)
	}
	n.role, err = node.NewRole(ctx, rc)
	if err != nil && (p.TCP != 0 || p.QUIC != 0) {
		cfg.Logger.Warn("devnet: p2p ports taken, using others", "node", i, "err", err)
		// NewRole closed the listener: take the same port again.
		if rc.Listener, err = net.Listen("tcp", rc.Node.Listen); err == nil {
			rc.P2P.ListenAddrs = listenAddrs(0, 0)
			n.role, err = node.NewRole(ctx, rc)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("node %d: %w", i, err)
	}
	return n, nil
}

// link gives n every other node as bootstrap and HTTP peer.
func (nw *Network) link(n *Node) error {
	for _, b := range nw.nodes {
		if b == n || b.role == nil {
			continue
		}
		for _, addr := range b.P2PAddrs() {
			if err := n.P2P().AddPeer(addr); err != nil {
				return err
			}
		}
		if err := n.P2P().AddHTTPPeer(b.apiURL); err != nil {
			return err
		}
	}
	return nil
}

// run serves n until the network stops or StopNode(n).
func (nw *Network) run(n *Node) {
	ctx, cancel := context.WithCancel(nw.runCtx)
	n.cancel, n.done = cancel, make(chan struct{})
	nw.mu.Lock()
	nw.running++
	nw.mu.Unlock()
	go func() {
		err := n.role.Run(ctx)
		nw.mu.Lock()
		nw.running--
		if err != nil && ctx.Err() == nil && nw.failed == nil {
			// A node failing on its own stops the network.
			nw.failed = fmt.Errorf("node %d: %w", n.index, err)
			nw.mu.Unlock()
			nw.cancel()
		} else {
			nw.mu.Unlock()
		}
		close(n.done)
	}()
}

// StopNode stops node i (its API, p2p host and stores) and waits for it,
// leaving the others running; StartNode starts it again on the same data
// directory and ports.
func (nw *Network) StopNode(i int) error {
	n := nw.nodes[i]
	if n.cancel == nil {
		return fmt.Errorf("devnet: node %d is not running", i)
	}
	n.cancel()
	<-n.done
	n.cancel = nil
	return nil
}

// StartNode restarts node i, stopped by StopNode, with the same data
// directory, identity and ports, and returns once its gossip mesh with the
// running nodes has formed.
func (nw *Network) StartNode(ctx context.Context, i int) error {
	n := nw.nodes[i]
	if n.cancel != nil {
		return fmt.Errorf("devnet: node %d is running", i)
	}
	nw.mu.Lock()
	stopped := nw.stopped
	nw.mu.Unlock()
	if stopped {
		return errors.New("devnet: the network has stopped")
	}
	m, err := newNode(ctx, nw.cfg, nw.chainRole, i, n.dir, n.currentPorts())
	if err != nil {
		return err
	}
	*n = Node{index: n.index, dir: n.dir, apiURL: m.apiURL, ports: n.ports, role: m.role}
	if err := nw.link(n); err != nil {
		n.role.Close()
		return err
	}
	nw.run(n)
	return nw.waitReady(ctx, nw.cfg.ReadyTimeout)
}

// AddNode starts a new core node, with an empty data directory
// (node-<i>/ beside the others'), configured as the others (Config.
// NodeConfig is called with its index, the chain services are set up
// likewise), links it with every running node both ways and returns it
// once its gossip mesh has formed. It then rebuilds the log from its peers
// (sync) and the chain, as a node joining a network does. devnet.json
// does not keep it: a restart of the network runs Config.Nodes nodes.
func (nw *Network) AddNode(ctx context.Context) (*Node, error) {
	nw.mu.Lock()
	stopped := nw.stopped
	i := len(nw.nodes)
	nw.mu.Unlock()
	if stopped {
		return nil, errors.New("devnet: the network has stopped")
	}
	dir := filepath.Join(nw.dir, "node-"+strconv.Itoa(i))
	if _, err := os.Stat(dir); err == nil {
		return nil, fmt.Errorf("devnet: %s exists: a new node starts empty", dir)
	}
	n, err := newNode(ctx, nw.cfg, nw.chainRole, i, dir, ports{})
	if err != nil {
		return nil, err
	}
	if err := nw.link(n); err != nil {
		n.role.Close()
		return nil, err
	}
	for _, b := range nw.nodes {
		if b.cancel == nil {
			continue // stopped: StartNode links it again
		}
		for _, addr := range n.P2PAddrs() {
			if err := b.P2P().AddPeer(addr); err != nil {
				n.role.Close()
				return nil, err
			}
		}
		if err := b.P2P().AddHTTPPeer(n.apiURL); err != nil {
			n.role.Close()
			return nil, err
		}
	}
	nw.mu.Lock()
	nw.nodes = append(nw.nodes, n)
	nw.mu.Unlock()
	nw.run(n)
	return n, nw.waitReady(ctx, nw.cfg.ReadyTimeout)
}

// currentPorts are the ports n listens on (or last listened on).
func (n *Node) currentPorts() ports {
	p := ports{API: n.role.Addr().(*net.TCPAddr).Port}
	for _, a := range n.P2P().Host().Addrs() {
		if v, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			p.TCP, _ = strconv.Atoi(v)
		}
		if v, err := a.ValueForProtocol(ma.P_UDP); err == nil {
			p.QUIC, _ = strconv.Atoi(v)
		}
	}
	return p
}

// Partition splits the network: nodes of different groups stop talking to
// each other (their connections are closed and refused) until Heal. A node
// in no group is cut off from all.
func (nw *Network) Partition(groups ...[]int) {
	group := map[int]int{}
	for g, members := range groups {
		for _, i := range members {
			group[i] = g + 1
		}
	}
	for _, a := range nw.nodes {
		for _, b := range nw.nodes {
			if a == b {
				continue
			}
			ga, gb := group[a.index], group[b.index]
			if ga == 0 || ga != gb {
				a.P2P().Block(b.P2P().ID())
			}
		}
	}
}

// Heal ends a partition: every node may talk to every other again, and
// they reconnect at once.
func (nw *Network) Heal(ctx context.Context) error {
	for _, a := range nw.nodes {
		for _, b := range nw.nodes {
			if a != b {
				a.P2P().Unblock(b.P2P().ID())
			}
		}
	}
	for _, a := range nw.nodes {
		for _, b := range nw.nodes {
			if a.index < b.index {
				if err := a.P2P().Host().Connect(ctx, peer.AddrInfo{ID: b.P2P().ID(), Addrs: b.P2P().Host().Addrs()}); err != nil {
					return fmt.Errorf("devnet: reconnect node %d to %d: %w", a.index, b.index, err)
				}
			}
		}
	}
	return nw.waitReady(ctx, nw.cfg.ReadyTimeout)
}

func listenAddrs(tcp, quic int) []string {
	return []string{
		"/ip4/127.0.0.1/tcp/" + strconv.Itoa(tcp),
		"/ip4/127.0.0.1/udp/" + strconv.Itoa(quic) + "/quic-v1",
	}
}

// saveState records the ports in use for the next run (best effort).
func saveState(dir string, nodes []*Node, compute net.Listener, chain *chainState) {
	st := state{Chain: chain}
	for _, n := range nodes {
		st.Nodes = append(st.Nodes, n.currentPorts())
	}
	if compute != nil {
		st.Compute = compute.Addr().(*net.TCPAddr).Port
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
			if len(n.P2P().TopicPeers()) < want || n.P2P().MeshPeers() < wantMesh {
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

// newCompute makes the compute node and its listener, on port when free.
func (nw *Network) newCompute(ctx context.Context, dir string, port int) (net.Listener, ComputeServer, error) {
	if newCompute == nil {
		return nil, nil, errors.New("devnet: Compute is set but no compute node is registered " +
			"(import github.com/goaleph/goaleph/internal/devnet/devcrn)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil && port != 0 {
		nw.cfg.Logger.Warn("devnet: compute node port taken, using another", "port", port)
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, nil, err
	}
	srv, err := newCompute(ctx, ComputeConfig{CoreURL: nw.nodes[0].apiURL, DataDir: filepath.Join(dir, "compute"),
		Logger: nw.cfg.Logger.With("node", "crn"), Listener: ln, PaymentInterval: nw.cfg.ComputePaymentInterval,
		Instances: nw.cfg.Instances})
	if err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("devnet: compute node: %w", err)
	}
	nw.computeURL = "http://" + ln.Addr().String()
	return ln, srv, nil
}

// runCompute serves the compute node until the network stops; its
// failing stops the network, as a node's.
func (nw *Network) runCompute(srv ComputeServer, ln net.Listener) {
	nw.computeDone = make(chan struct{})
	go func() {
		defer close(nw.computeDone)
		err := srv.Run(nw.runCtx)
		if err != nil && nw.runCtx.Err() == nil {
			nw.mu.Lock()
			if nw.failed == nil {
				nw.failed = fmt.Errorf("compute node: %w", err)
			}
			nw.mu.Unlock()
			nw.cancel()
		}
	}()
}

// ComputeURL is the base URL of the compute node ("" without
// Config.Compute): programs answer at ComputeURL()/vm/<item hash>/.
func (nw *Network) ComputeURL() string { return nw.computeURL }

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
