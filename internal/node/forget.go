package node

import (
	"context"
	"errors"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// forgets processes FORGET messages. Permission is checked per target:
// the right to forget a message is the right to create it.
type forgets struct{ n *Node }

func (f forgets) check(ctx context.Context, tx store.Tx, it *item) error {
	c := it.content.Forget
	if len(c.Hashes) == 0 && len(c.Aggregates) == 0 {
		return message.Errorf(message.CodeForgetNoTarget, "nothing to forget")
	}
	for _, h := range c.Hashes {
		st, err := tx.Status(ctx, h)
		if errors.Is(err, store.ErrNotFound) {
			return missing(message.CodeForgetTargetNotFound, h)
		}
		if err != nil {
			return err
		}
		switch st.Status {
		case store.StatusProcessed, store.StatusRemoving:
		case store.StatusPending:
			return missing(message.CodeForgetTargetNotFound, h)
		default:
			continue // forgotten, rejected, removed: skipped
		}
		rec := st.Record
		if rec.Type == message.TypeForget {
			return message.Errorf(message.CodeForgetForget, "%s is a FORGET", h)
		}
		if rec.Type == message.TypeStore {
			users, err := tx.VolumeUsers(h)
			if err != nil {
				return err
			}
			if len(users) == 0 && rec.ContentItemHash != "" {
				users, err = tx.VolumeUsers(rec.ContentItemHash)
				if err != nil {
					return err
				}
			}
			if len(users) > 0 {
				return message.Errorf(message.CodeForgetNotAllowed, "%s is a volume of %s", h, users[0])
			}
		}
		if err := checkPermission(ctx, tx, it.msg.Sender, targetOf(rec)); err != nil {
			return err
		}
	}
	if len(c.Aggregates) > 0 {
		aggs, err := tx.Aggregates(ctx, it.content.Address, c.Aggregates)
		if err != nil {
			return err
		}
		found := map[string]bool{}
		for _, a := range aggs {
			found[a.Key] = true
		}
		for _, k := range c.Aggregates {
			if !found[k] {
				return missing(message.CodeForgetTargetNotFound, "aggregate:"+it.content.Address+"/"+k)
			}
			t := target{Owner: it.content.Address, Chain: it.msg.Chain, Channel: it.msg.Channel, Type: message.TypeAggregate, Key: k}
			if err := checkPermission(ctx, tx, it.msg.Sender, t); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f forgets) apply(ctx context.Context, tx store.Tx, it *item) error {
	c := it.content.Forget
	for _, h := range c.Hashes {
		if err := f.n.forgetOne(ctx, tx, h, it); err != nil {
			return err
		}
	}
	for _, k := range c.Aggregates {
		els, err := tx.AggregateElements(it.content.Address, k)
		if err != nil {
			return err
		}
		for _, e := range els {
			if err := f.n.forgetOne(ctx, tx, e.ItemHash, it); err != nil {
				return err
			}
		}
		if err := tx.PutAggregate(&store.Aggregate{Owner: it.content.Address, Key: k}); err != nil {
			return err
		}
	}
	return nil
}

// forgetOne forgets one target, undoing its type's projections. A target
// that is already forgotten gets the FORGET appended to forgotten_by.
func (n *Node) forgetOne(ctx context.Context, tx store.Tx, hash string, by *item) error {
	rec, err := tx.Message(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		err := tx.Forget(hash, by.msg.ItemHash, by.msg.Time)
		if errors.Is(err, store.ErrNotFound) {
			return nil // rejected or unknown: skipped
		}
		return err
	}
	if err != nil {
		return err
	}
	if h := n.handlers[rec.Type]; h != nil {
		if err := h.forget(ctx, tx, rec, by); err != nil {
			return err
		}
	}
	if priced(rec.Type) {
		if err := tx.DeleteCost(hash); err != nil {
			return err
		}
		if err := tx.DeleteCollection(hash); err != nil {
			return err
		}
	}
	if rec.ItemType != message.ItemInline {
		if err := tx.DeletePins(hash); err != nil {
			return err
		}
		if err := n.graceIfUnpinned(ctx, tx, hash, by.msg.Time); err != nil {
			return err
		}
	}
	by.forgot = append(by.forgot, hash)
	return tx.Forget(hash, by.msg.ItemHash, by.msg.Time)
}

func (forgets) forget(ctx context.Context, tx store.Tx, target *store.Record, by *item) error {
	return message.Errorf(message.CodeForgetForget, "%s is a FORGET", target.ItemHash)
}
