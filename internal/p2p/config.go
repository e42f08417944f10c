package p2p

import (
	"log/slog"
	"path/filepath"
	"time"

	"github.com/ipfs/boxo/blockstore"
)

// Topic names and limits from the reference node (spec §8, §1.2).
const (
	// MessageTopic carries message envelopes as JSON.
	MessageTopic = "ALEPH-TEST"
	// AliveTopic carries the periodic alive messages of the nodes.
	AliveTopic = "ALIVE"
	// MaxPayload is gossipsub's max_transmit_size in the reference node:
	// larger payloads are dropped.
	MaxPayload = 262144
	// KeyFileName is the identity key file in the data directory: a PKCS #8
	// DER private key, as pyaleph's node-secret.pkcs8.der (RSA keys of
	// pyaleph work; new keys are Ed25519).
	KeyFileName = "node-secret.pkcs8.der"
)

// Config configures a Service. The zero value of a field means its default.
type Config struct {
	// DataDir holds the identity key (KeyFileName), created on first start.
	// Default "data".
	DataDir string
	// ListenAddrs are the libp2p listen multiaddrs. Default: TCP and QUIC
	// on 127.0.0.1 port 4025. Use port 0 for a free port.
	ListenAddrs []string
	// Bootstrap are multiaddrs (with /p2p/<id>) of peers to connect to and
	// to redial every ReconnectDelay.
	Bootstrap []string
	// HTTPPeers are base URLs of peers' HTTP APIs, used to fetch content.
	HTTPPeers []string
	// APIURL is this node's HTTP API base URL, announced in alive messages
	// (empty: no HTTP alive message).
	APIURL string
	// Version is announced in alive messages.
	Version string
	// TrustedPeers are the peer IDs whose alive messages are taken into the
	// peer table, besides the bootstrap peers (the reference node allows
	// the nodes of the corechannel aggregate). Empty: every peer is
	// trusted, which suits a private network or a devnet.
	TrustedPeers []string
	// AlivePeriod is the interval between alive messages. Default 120 s.
	AlivePeriod time.Duration
	// ProbePeriod is the interval between probes of the HTTP peers.
	// Default 60 s.
	ProbePeriod time.Duration
	// ReconnectDelay is the interval between redials of the bootstrap and
	// known peers. Default 60 s.
	ReconnectDelay time.Duration
	// MaxPeerAge forgets peers not seen for that long. Default 24 h.
	MaxPeerAge time.Duration
	// ConnLow and ConnHigh are the connection manager's watermarks: above
	// ConnHigh connections, it trims down to ConnLow. Default 100 and 400.
	ConnLow, ConnHigh int
	// SyncPeriod is the interval between sync sessions with each connected
	// peer (catch-up by set reconciliation, see sync.go); sessions also run
	// when a peer connects. Default 60 s; negative disables sync.
	SyncPeriod time.Duration
	// FetchTimeout bounds the wait for a peer's answer when fetching
	// content (the download itself is bounded by the caller). Default 5 s.
	FetchTimeout time.Duration
	// Blockstore holds the blocks of the node's IPFS files (the file
	// store's). When set, Run runs bitswap on the host: peers fetch these
	// blocks from the node, and Fetch gets IPFS files from peers over
	// bitswap before trying HTTP. Nil: no bitswap. See also SetBlockstore.
	Blockstore blockstore.Blockstore
	Logger     *slog.Logger
}

func (c *Config) defaults() {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/4025", "/ip4/127.0.0.1/udp/4025/quic-v1"}
	}
	if c.AlivePeriod == 0 {
		c.AlivePeriod = 120 * time.Second
	}
	if c.ProbePeriod == 0 {
		c.ProbePeriod = 60 * time.Second
	}
	if c.ReconnectDelay == 0 {
		c.ReconnectDelay = 60 * time.Second
	}
	if c.MaxPeerAge == 0 {
		c.MaxPeerAge = 24 * time.Hour
	}
	if c.ConnLow == 0 {
		c.ConnLow = 100
	}
	if c.ConnHigh == 0 {
		c.ConnHigh = 400
	}
	if c.SyncPeriod == 0 {
		c.SyncPeriod = 60 * time.Second
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) keyPath() string { return filepath.Join(c.DataDir, KeyFileName) }
