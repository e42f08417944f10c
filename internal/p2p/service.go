package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/boxo/bitswap"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// Node is what the p2p service needs from the core node.
type Node interface {
	// Submit ingests a message (see api.Node.Submit).
	Submit(ctx context.Context, m *message.Message, origin string, wait bool) (store.Status, error)
	// VerifySignature checks m's signature now.
	VerifySignature(m *message.Message) error
	// Subscribe returns the messages the node processes.
	Subscribe(buffer int) (<-chan *store.Record, func())
}

// Origin is the origin the service gives the messages it submits.
const Origin = "p2p"

// Service is a node's presence on the p2p network. New starts the libp2p
// host (it listens at once); SetNode gives it the core node; Run joins the
// topics and runs the gossip, alive, redial and probe loops until its
// context ends, then closes the host (a lifecycle.Service and Readier).
// Methods are safe for concurrent use.
type Service struct {
	cfg     Config
	log     *slog.Logger
	host    host.Host
	cm      *connmgr.BasicConnMgr
	peers   *peerTable
	m       *metrics
	sm      *syncMetrics
	gater   *gater
	client  *http.Client
	selfURL string
	trusted map[peer.ID]bool // guarded by mu; empty cfg.TrustedPeers: all are

	bitswapFetches *prometheus.CounterVec // aleph_p2p_bitswap_fetches_total{result}

	fetchSem chan struct{}
	wg       sync.WaitGroup // dials started by readAlive
	mesh     *meshTracer
	recent   recentSet

	mu      sync.Mutex
	topic   *pubsub.Topic // the message topic, once Run joined it
	syncer  *syncer       // once Run started sync
	closeMu sync.Once
	bswap   *bitswap.Bitswap // while Run runs, with a blockstore
	node    Node             // set by SetNode before Run

	ready     chan struct{} // closed once Run joined the topics
	readyOnce sync.Once
}

// New creates the host with the identity key of cfg.DataDir (created on
// first start) and listens on cfg.ListenAddrs. Run it, or Close it.
func New(cfg Config) (*Service, error) {
	cfg.defaults()
	key, err := LoadOrCreateKey(cfg.keyPath())
	if err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, err
	}
	g := &gater{}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(g),
		libp2p.DisableRelay(),
	)
	if err != nil {
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	s := &Service{
		cfg:   cfg,
		log:   cfg.Logger.With("peer", shortID(h.ID())),
		host:  h,
		cm:    cm,
		peers: newPeerTable(),
		gater: g,
		client: &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: cfg.FetchTimeout}).DialContext,
			ResponseHeaderTimeout: cfg.FetchTimeout,
			MaxIdleConnsPerHost:   maxConcurrentFetches,
		}},
		selfURL:  strings.TrimRight(cfg.APIURL, "/"),
		trusted:  map[peer.ID]bool{},
		fetchSem: make(chan struct{}, maxConcurrentFetches),
		ready:    make(chan struct{}),
	}
	s.m = newMetrics(s)
	s.sm = newSyncMetrics()
	s.bitswapFetches = newBitswapFetches()
	s.mesh = newMeshTracer(func(reason string) { s.m.dropped.WithLabelValues(reason).Inc() })
	for _, id := range cfg.TrustedPeers {
		pid, err := peer.Decode(id)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("trusted peer %q: %w", id, err)
		}
		s.trusted[pid] = true
	}
	for _, a := range cfg.Bootstrap {
		if err := s.AddPeer(a); err != nil {
			h.Close()
			return nil, err
		}
	}
	for _, u := range cfg.HTTPPeers {
		if err := s.AddHTTPPeer(u); err != nil {
			h.Close()
			return nil, err
		}
	}
	return s, nil
}

// ID is the node's peer ID.
func (s *Service) ID() peer.ID { return s.host.ID() }

// Addrs returns the host's listen addresses with /p2p/<id>, to give to
// other nodes as bootstrap peers.
func (s *Service) Addrs() []string {
	var out []string
	for _, a := range s.host.Addrs() {
		out = append(out, a.String()+"/p2p/"+s.host.ID().String())
	}
	return out
}

// Host returns the libp2p host.
func (s *Service) Host() host.Host { return s.host }

// Register adds the service's metrics to a registry (the node's).
func (s *Service) Register(r prometheus.Registerer) error {
	for _, c := range append(append(s.m.all, s.sm.collectors()...), s.bitswapFetches) {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// AddPeer adds a bootstrap peer (a multiaddr with /p2p/<id>): it is
// dialled by Run and redialled whenever the connection drops.
func (s *Service) AddPeer(addr string) error {
	info, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return fmt.Errorf("peer address %q: %w", addr, err)
	}
	if info.ID == s.host.ID() {
		return nil
	}
	s.host.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
	s.cm.Protect(info.ID, "bootstrap")
	s.mu.Lock()
	s.trusted[info.ID] = true
	s.mu.Unlock()
	s.peers.addP2P(info.ID, addr, "bootstrap", time.Now())
	return nil
}

// AddHTTPPeer adds the API base URL of a peer to fetch content from.
func (s *Service) AddHTTPPeer(base string) error {
	if !validHTTPURL(base) {
		return fmt.Errorf("HTTP peer %q: not an http(s) URL", base)
	}
	if strings.TrimRight(base, "/") != s.selfURL {
		s.peers.addHTTP(base, "config", time.Now())
	}
	return nil
}

// Peers returns the peer table.
func (s *Service) Peers() []Peer { return s.peers.list() }

// TopicPeers returns the peers this node exchanges messages with on the
// message topic (empty before Run joined it).
func (s *Service) TopicPeers() []peer.ID {
	s.mu.Lock()
	t := s.topic
	s.mu.Unlock()
	if t == nil {
		return nil
	}
	return t.ListPeers()
}

// MeshPeers returns how many peers this node forwards messages of the
// message topic to (gossipsub's mesh). It is 0 until the first heartbeat
// after peers joined the topic.
func (s *Service) MeshPeers() int { return s.mesh.size(MessageTopic) }

// Close closes the host. Run closes it too when it returns.
func (s *Service) Close() error {
	var err error
	s.closeMu.Do(func() { err = s.host.Close() })
	return err
}

// SetNode gives the service the core node it feeds and publishes; it must
// be called before Run.
func (s *Service) SetNode(n Node) { s.node = n }

// Ready is closed once Run has joined the topics (see lifecycle.Readier).
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Run joins the topics and feeds the messages received to the node given
// by SetNode, publishes what it processes, announces the node on the alive
// topic and keeps the peer table up to date, until ctx ends. It closes the
// host on return.
func (s *Service) Run(ctx context.Context) (err error) {
	defer s.Close()
	node := s.node
	if node == nil {
		return errors.New("p2p: no node (SetNode) before Run")
	}
	defer func() {
		// A stop asked while the service was still joining its topics
		// ends the join with the context's error: that is a clean stop.
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = nil
		}
	}()
	g, ctx := errgroup.WithContext(ctx)
	ps, err := pubsub.NewGossipSub(ctx, s.host,
		pubsub.WithMaxMessageSize(4*MaxPayload), // larger ones are counted and dropped by the validator
		pubsub.WithPeerOutboundQueueSize(4096),
		pubsub.WithValidateQueueSize(4096),
		pubsub.WithSeenMessagesTTL(5*time.Minute),
		pubsub.WithLogger(s.log),
		// Own messages go to every topic peer at once, not only to the mesh
		// (the mesh forms at the first heartbeat; rust-libp2p floods too).
		pubsub.WithFloodPublish(true),
		pubsub.WithRawTracer(s.mesh),
	)
	if err != nil {
		return fmt.Errorf("start gossipsub: %w", err)
	}
	topic, err := ps.Join(MessageTopic, pubsub.WithTopicMessageIdFn(messageID))
	if err != nil {
		return err
	}
	// Each validation waits for the node's writer to commit: allow many at
	// once (1000 msg/s × a few hundred ms under load).
	if err := ps.RegisterTopicValidator(MessageTopic, s.validator(node), pubsub.WithValidatorConcurrency(4096)); err != nil {
		return err
	}
	sub, err := topic.Subscribe(pubsub.WithBufferSize(1024))
	if err != nil {
		return err
	}
	defer sub.Cancel()
	alive, err := ps.Join(AliveTopic)
	if err != nil {
		return err
	}
	if err := ps.RegisterTopicValidator(AliveTopic, s.aliveValidator, pubsub.WithValidatorInline(true)); err != nil {
		return err
	}
	aliveSub, err := alive.Subscribe()
	if err != nil {
		return err
	}
	defer aliveSub.Cancel()
	s.mu.Lock()
	s.topic = topic
	s.mu.Unlock()
	s.log.Info("p2p host listening", "id", s.host.ID().String(), "addrs", s.host.Addrs())
	s.readyOnce.Do(func() { close(s.ready) })

	// Sync and bitswap first: their handlers and connection watches must
	// be in place before the redial loop connects.
	s.startSync(ctx, g, node)
	stopBitswap := s.startBitswap(ctx)
	g.Go(func() error { return drain(ctx, sub) })
	g.Go(func() error { return s.publishProcessed(ctx, node, topic) })
	g.Go(func() error { return s.announce(ctx, alive) })
	g.Go(func() error { return s.readAlive(ctx, aliveSub) })
	g.Go(func() error { return s.runRedial(ctx) })
	g.Go(func() error { return s.runProbe(ctx) })
	err = g.Wait()
	stopBitswap()
	s.wg.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// drain empties a subscription: delivery to this node happens in the
// validator, but the subscription keeps the node in the topic's mesh.
func drain(ctx context.Context, sub *pubsub.Subscription) error {
	for {
		if _, err := sub.Next(ctx); err != nil {
			return nil
		}
	}
}

// runRedial connects to the bootstrap peers and the peers seen recently
// that are not connected, at once and then every ReconnectDelay.
func (s *Service) runRedial(ctx context.Context) error {
	t := time.NewTicker(s.cfg.ReconnectDelay)
	defer t.Stop()
	for {
		s.redial(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Service) redial(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range s.peers.redialable(time.Now(), s.cfg.MaxPeerAge) {
		if s.host.Network().Connectedness(p.ID) == network.Connected {
			continue
		}
		wg.Go(func() { s.connect(ctx, p.Address) })
	}
	wg.Wait()
}

func (s *Service) connect(ctx context.Context, addr string) {
	info, err := peer.AddrInfoFromString(addr)
	if err != nil || info.ID == s.host.ID() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.host.Connect(ctx, *info); err != nil && ctx.Err() == nil {
		s.log.Debug("dial peer", "addr", addr, "err", err)
	}
}

// runProbe probes the HTTP peers every ProbePeriod, and new ones at once.
func (s *Service) runProbe(ctx context.Context) error {
	t := time.NewTicker(s.cfg.ProbePeriod)
	defer t.Stop()
	for {
		s.peers.probe(ctx, s.client, time.Now(), s.cfg.MaxPeerAge)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.peers.newCh:
		}
	}
}

func shortID(id peer.ID) string {
	s := id.String()
	if len(s) > 8 {
		return s[len(s)-8:]
	}
	return s
}

// announceAddr returns the address announced in alive messages: the
// host's first TCP listen address (else its first), with /p2p/<id>.
func (s *Service) announceAddr() string {
	var best ma.Multiaddr
	for _, a := range s.host.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			best = a
			break
		}
		if best == nil {
			best = a
		}
	}
	if best == nil {
		return ""
	}
	return best.String() + "/p2p/" + s.host.ID().String()
}
