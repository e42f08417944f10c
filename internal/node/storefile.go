package node

import (
	"context"
	"errors"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// stores processes STORE messages: the file is pinned for the owner and
// tagged so that the latest STORE of a ref can be found.
type stores struct{ n *Node }

func (s stores) check(ctx context.Context, tx store.Tx, it *item) error {
	c := it.content.Store
	if err := checkPermission(ctx, tx, it.msg.Sender, it.target()); err != nil {
		return err
	}
	if c.Ref != "" && message.ValidHash(c.Ref) {
		pin, err := tx.FileByMessage(ctx, c.Ref)
		if errors.Is(err, store.ErrNotFound) {
			return missing(message.CodeStoreRefNotFound, c.Ref)
		}
		if err != nil {
			return err
		}
		if pin.Ref != "" {
			return message.Errorf(message.CodeStoreUpdateUpdate, "%s already updates %s", c.Ref, pin.Ref)
		}
	}
	ok, err := s.n.files.Has(ctx, c.ItemHash)
	if err != nil {
		return err
	}
	if !ok {
		return missing(message.CodeFileUnavailable, c.ItemHash)
	}
	return nil
}

func (s stores) apply(ctx context.Context, tx store.Tx, it *item) error {
	c := it.content.Store
	info, err := s.n.files.Stat(ctx, c.ItemHash)
	if err != nil {
		if errors.Is(err, files.ErrNotFound) {
			return missing(message.CodeFileUnavailable, c.ItemHash)
		}
		return err
	}
	if err := tx.UpsertFile(&store.File{Hash: c.ItemHash, Size: info.Size, Type: "file"}); err != nil {
		return err
	}
	if err := tx.AddPin(&store.Pin{FileHash: c.ItemHash, Type: store.PinMessage, Owner: it.content.Address,
		ItemHash: it.msg.ItemHash, Ref: c.Ref, Created: it.content.Time}); err != nil {
		return err
	}
	tag := it.msg.ItemHash
	if c.Ref != "" {
		tag = c.Ref
	}
	return tx.UpsertTag(&store.FileTag{Tag: it.content.Address + "/" + tag, Owner: it.content.Address,
		FileHash: c.ItemHash, LastUpdated: it.content.Time})
}

func (s stores) forget(ctx context.Context, tx store.Tx, target *store.Record, by *item) error {
	if err := tx.DeletePins(target.ItemHash); err != nil {
		return err
	}
	return s.n.graceIfUnpinned(ctx, tx, target.ContentItemHash, by.msg.Time)
}

// graceIfUnpinned gives a file that lost its last pin a grace period.
func (n *Node) graceIfUnpinned(ctx context.Context, tx store.Tx, hash string, now float64) error {
	if hash == "" {
		return nil
	}
	count, err := tx.PinCount(ctx, hash)
	if err != nil || count > 0 {
		return err
	}
	return tx.AddPin(&store.Pin{FileHash: hash, Type: store.PinGracePeriod, Created: now,
		DeleteBy: now + n.cfg.GracePeriod.Seconds()})
}
