package node

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/goaleph/goaleph/internal/files"
)

// Files returns the node's file store, opened by New and closed when Serve
// returns. The p2p service serves the blocks of its IPFS files over
// bitswap (files.Store.Blockstore).
func (n *Node) Files() *files.Store { return n.files }

// ErrFileTooLarge is returned by ReadFile for a file larger than its limit.
var ErrFileTooLarge = errors.New("file larger than the limit")

// ReadFile returns the bytes of the file hash (sha256 hex or CID), at most
// limit of them: from the file store or, when it is not there, fetched
// from the peers through the Fetcher, checked against its hash and kept
// with a grace-period pin. Without a Fetcher a missing file is
// files.ErrNotFound.
func (n *Node) ReadFile(ctx context.Context, hash string, limit int64) ([]byte, error) {
	ok, err := n.files.Has(ctx, hash)
	if err != nil {
		return nil, err
	}
	if !ok {
		if n.cfg.Fetcher == nil {
			return nil, files.ErrNotFound
		}
		if err := n.fetchFile(ctx, hash, limit); err != nil {
			return nil, err
		}
	}
	f, err := n.files.Open(ctx, hash)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", hash, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w (%d bytes)", hash, ErrFileTooLarge, limit)
	}
	return data, nil
}
