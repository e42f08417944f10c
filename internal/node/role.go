package node

import (
	"github.com/goaleph/goaleph/internal/p2p"
)

// RoleConfig is the configuration of the core node role (aleph node run,
// each node of a devnet): the node itself and its peer-to-peer service.
// Its settings table (settings.go) describes every key once.
type RoleConfig struct {
	Node Config
	// P2P configures the peer-to-peer service; DataDir, Version and Logger
	// are taken from Node when empty.
	P2P p2p.Config
	// NoP2P runs the node alone.
	NoP2P bool
	// LogLevel is debug, info, warn or error (used by the CLI to build
	// Node.Logger).
	LogLevel string
}
