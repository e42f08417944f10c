package chainsync

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"

	"github.com/goaleph/goaleph/internal/store"
)

// reorgWindow bounds how far back a reorganisation is looked for: the
// service rewinds at most this many blocks below its synced height when
// it cannot find where the chains forked.
const reorgWindow = 128

// A reorganisation that drops blocks the service has read is noticed in
// two places: before a poll, the block at the synced height no longer has
// the hash recorded after the previous poll (checkReorg); after a poll, a
// block whose events were just handled is no longer canonical (the chain
// changed during the poll; recordTip). Either way the service rewinds:
// the confirmations of the dropped blocks are deleted and those blocks
// read again, so that the events the new chain still holds are confirmed
// again, at their new place. Messages are never removed: they are signed
// data, valid without their anchor.

// checkReorg compares the block at the synced height with the hash
// recorded for it and rewinds to the fork point when they differ.
func (s *Service) checkReorg(ctx context.Context) error {
	cs, err := s.node.Store().ChainSync(ctx, Chain)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cs.BlockHash == "" {
		return nil
	}
	canon, err := s.client.HeaderByNumber(ctx, new(big.Int).SetUint64(cs.Height))
	switch {
	case errors.Is(err, ethereum.NotFound):
		// The chain is shorter than it was: the block was dropped.
	case err != nil:
		return fmt.Errorf("header %d: %w", cs.Height, err)
	case canon.Hash().Hex() == cs.BlockHash:
		return nil
	}
	return s.rewind(ctx, s.forkPoint(ctx, cs.Height, common.HexToHash(cs.BlockHash))+1)
}

// forkPoint returns the height of the last block the chain that held old
// (at height) shares with the canonical chain, walking old's ancestors
// while the RPC still knows them; without them, reorgWindow blocks back.
func (s *Service) forkPoint(ctx context.Context, height uint64, old common.Hash) uint64 {
	for range reorgWindow {
		if height == 0 {
			return 0
		}
		oh, err := s.client.HeaderByHash(ctx, old)
		if err != nil {
			break
		}
		ch, err := s.client.HeaderByNumber(ctx, new(big.Int).SetUint64(height))
		if err == nil && oh.Hash() == ch.Hash() {
			return height
		}
		if err != nil && !errors.Is(err, ethereum.NotFound) {
			break
		}
		old, height = oh.ParentHash, height-1
	}
	return height - min(height, reorgWindow)
}

// rewind deletes the confirmations of blocks from height on and sets the
// synced height below them, so that they are read again.
func (s *Service) rewind(ctx context.Context, from uint64) error {
	var dropped int
	err := s.node.Store().Update(ctx, func(tx store.Tx) error {
		var err error
		if dropped, err = tx.DeleteConfirmations(Chain, from); err != nil {
			return err
		}
		return tx.SetChainSync(&store.ChainSync{Chain: Chain, Height: max(from, 1) - 1})
	})
	if err != nil {
		return err
	}
	s.metrics.reorgs.Inc()
	s.log.Warn("chain reorganisation: blocks read again", "from", from, "confirmations_dropped", dropped)
	return nil
}

// recordTip records the hash of the block at the synced height (for
// checkReorg) once the blocks whose events were handled during the poll
// are checked to be still canonical.
func (s *Service) recordTip(ctx context.Context, handled map[uint64]common.Hash) error {
	lowest := uint64(0)
	found := false
	for h, hash := range handled {
		ch, err := s.client.HeaderByNumber(ctx, new(big.Int).SetUint64(h))
		if err != nil && !errors.Is(err, ethereum.NotFound) {
			return fmt.Errorf("header %d: %w", h, err)
		}
		if (err != nil || ch.Hash() != hash) && (!found || h < lowest) {
			lowest, found = h, true
		}
	}
	if found {
		return s.rewind(ctx, lowest)
	}
	cs, err := s.node.Store().ChainSync(ctx, Chain)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || cs.BlockHash != "" {
		return err
	}
	hdr, err := s.client.HeaderByNumber(ctx, new(big.Int).SetUint64(cs.Height))
	if err != nil {
		return fmt.Errorf("header %d: %w", cs.Height, err)
	}
	cs.BlockHash = hdr.Hash().Hex()
	return s.node.Store().Update(ctx, func(tx store.Tx) error { return tx.SetChainSync(cs) })
}
