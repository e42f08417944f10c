package p2p

import (
	"sync"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater refuses connections with blocked peers, both ways.
type gater struct {
	mu      sync.RWMutex
	blocked map[peer.ID]bool
}

func (g *gater) isBlocked(p peer.ID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.blocked[p]
}

func (g *gater) InterceptPeerDial(p peer.ID) bool                 { return !g.isBlocked(p) }
func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !g.isBlocked(p) }
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.isBlocked(p)
}
func (g *gater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	return !g.isBlocked(c.RemotePeer()), 0
}

// Block cuts the node off from peer p: its connections are closed and new
// ones refused, both ways, until Unblock. (Operators ban misbehaving peers;
// tests split the network with it.)
func (s *Service) Block(p peer.ID) {
	s.gater.mu.Lock()
	if s.gater.blocked == nil {
		s.gater.blocked = map[peer.ID]bool{}
	}
	s.gater.blocked[p] = true
	s.gater.mu.Unlock()
	_ = s.host.Network().ClosePeer(p)
}

// Unblock lets peer p connect again; the redial loop reconnects it if it
// is a known peer.
func (s *Service) Unblock(p peer.ID) {
	s.gater.mu.Lock()
	delete(s.gater.blocked, p)
	s.gater.mu.Unlock()
}
