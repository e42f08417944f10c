package node

import (
	"context"
	"errors"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// posts processes POST messages and their amends, and the balances-update
// and credit posts among them.
type posts struct {
	balances *balanceUpdates
	credits  *creditPosts
}

func (h posts) check(ctx context.Context, tx store.Tx, it *item) error {
	p := it.content.Post
	if !p.IsAmend() {
		if err := checkPermission(ctx, tx, it.msg.Sender, it.target()); err != nil {
			return err
		}
		if _, err := h.balances.update(it); err != nil {
			return err
		}
		_, err := h.credits.entries(ctx, tx, it)
		return err
	}
	if p.Ref == "" {
		return message.Errorf(message.CodePostAmendNoTarget, "amend without ref")
	}
	orig, err := tx.Post(p.Ref)
	if errors.Is(err, store.ErrNotFound) {
		return missing(message.CodePostAmendTargetNotFound, p.Ref)
	}
	if err != nil {
		return err
	}
	if orig.Amends != "" {
		return message.Errorf(message.CodePostAmendAmend, "%s is itself an amend", p.Ref)
	}
	if it.content.Address != orig.Owner {
		return message.Errorf(message.CodePermissionDenied, "amend address %s is not the owner %s of %s", it.content.Address, orig.Owner, p.Ref)
	}
	// Delegation is checked against the original message's attributes.
	rec, err := tx.Message(ctx, p.Ref)
	if err != nil {
		return err
	}
	return checkPermission(ctx, tx, it.msg.Sender, targetOf(rec))
}

func (h posts) apply(ctx context.Context, tx store.Tx, it *item) error {
	p := it.content.Post
	row := &store.Post{
		ItemHash:     it.msg.ItemHash,
		Owner:        it.content.Address,
		Type:         p.Type,
		Ref:          p.Ref,
		Channel:      it.msg.Channel,
		Content:      p.Content,
		CreationTime: it.content.Time,
	}
	if p.IsAmend() {
		row.Amends = p.Ref
	}
	if err := tx.InsertPost(row); err != nil {
		return err
	}
	if p.IsAmend() {
		return refreshLatestAmend(tx, p.Ref)
	}
	if err := h.credits.apply(ctx, tx, it); err != nil {
		return err
	}
	return h.balances.apply(tx, it)
}

// refreshLatestAmend points the original at its amend with the greatest
// content time; ties keep the first applied (then the smaller hash).
func refreshLatestAmend(tx store.Tx, original string) error {
	amends, err := tx.Amends(original)
	if err != nil {
		return err
	}
	latest := ""
	best := -1.0
	for _, a := range amends { // ordered by time, then hash
		if a.CreationTime > best {
			best, latest = a.CreationTime, a.ItemHash
		}
	}
	return tx.SetLatestAmend(original, latest)
}

func (posts) forget(ctx context.Context, tx store.Tx, target *store.Record, by *item) error {
	p, err := tx.Post(target.ItemHash)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := tx.DeletePost(target.ItemHash); err != nil {
		return err
	}
	// A forgotten credit post leaves the ledger: balances stay a fold of
	// the log.
	if err := tx.DeleteCreditEntries(target.ItemHash); err != nil {
		return err
	}
	if p.Amends != "" {
		return refreshLatestAmend(tx, p.Amends)
	}
	// Forgetting an original forgets all its amends.
	amends, err := tx.Amends(target.ItemHash)
	if err != nil {
		return err
	}
	for _, a := range amends {
		if err := tx.DeletePost(a.ItemHash); err != nil {
			return err
		}
		if err := tx.Forget(a.ItemHash, by.msg.ItemHash, by.msg.Time); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

func checkPermission(ctx context.Context, r store.Reader, sender string, t target) error {
	ok, err := authorized(ctx, r, sender, t)
	if err != nil {
		return err
	}
	if !ok {
		return message.Errorf(message.CodePermissionDenied, "%s is not authorized to act for %s", sender, t.Owner)
	}
	return nil
}
