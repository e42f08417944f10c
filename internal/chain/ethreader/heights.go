package ethreader

import (
	"context"
	"errors"

	"github.com/goaleph/goaleph/internal/store"
)

// StoreHeights is the HeightStore of a core node: heights persist in its
// store (chains_sync_status), so a restarted node reads on from where it
// stopped.
type StoreHeights struct {
	Store store.Store
}

var _ HeightStore = StoreHeights{}

// SyncHeight implements HeightStore.
func (h StoreHeights) SyncHeight(ctx context.Context, chain string) (uint64, bool, error) {
	c, err := h.Store.ChainSync(ctx, chain)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return c.Height, true, nil
}

// SetSyncHeight implements HeightStore.
func (h StoreHeights) SetSyncHeight(ctx context.Context, chain string, height uint64) error {
	return h.Store.Update(ctx, func(tx store.Tx) error {
		return tx.SetChainSync(&store.ChainSync{Chain: chain, Height: height})
	})
}
