package node

import "github.com/goaleph/goaleph/internal/files"

// Files returns the node's file store, opened by New and closed when Serve
// returns. The p2p service serves the blocks of its IPFS files over
// bitswap (files.Store.Blockstore).
func (n *Node) Files() *files.Store { return n.files }
