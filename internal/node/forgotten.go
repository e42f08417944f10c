package node

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// ImportForgotten stores the skeleton of a message that was forgotten on a
// peer and that this node never held, so that the FORGET waiting for it
// here can be processed (p2p sync sends skeletons for the forgotten hashes
// it finds missing). The skeleton must carry the message's valid signature,
// and a FORGET of this node (processed or pending) sent by the same sender
// must name the hash: a peer cannot make this node forget a message by
// itself. A hash already processed here is left to its FORGET; a hash
// already forgotten is left alone.
func (n *Node) ImportForgotten(ctx context.Context, f *store.Forgotten) error {
	if f.ItemHash == "" || f.Sender == "" || f.Signature == "" {
		return message.Errorf(message.CodeInvalidFormat, "incomplete forgotten message")
	}
	buf := (&message.Message{Chain: f.Chain, Sender: f.Sender, Type: f.Type, ItemHash: f.ItemHash}).VerificationBuffer()
	if err := chain.Verify(f.Chain, f.Sender, buf, f.Signature); err != nil {
		return &message.Error{Code: message.CodeInvalidSignature, Err: err}
	}
	var inserted bool
	err := n.store.Update(ctx, func(tx store.Tx) error {
		seen, err := tx.Seen(f.ItemHash)
		if err != nil || seen.Processed || seen.Forgotten {
			return err
		}
		ok, err := forgetNames(ctx, tx, f)
		if err != nil {
			return err
		}
		if !ok {
			return message.Errorf(message.CodePermissionDenied,
				"no FORGET from %s naming %s is known here", f.Sender, f.ItemHash)
		}
		skel := *f
		skel.ReceptionTime = float64(time.Now().UnixNano()) / 1e9
		inserted, err = tx.InsertForgotten(&skel)
		return err
	})
	if err != nil {
		return err
	}
	if inserted {
		n.wake(f.ItemHash)
	}
	return nil
}

// forgetNames tells whether one of f.ForgottenBy is a FORGET known to this
// node (processed or pending), sent by f's sender, whose hashes include f.
func forgetNames(ctx context.Context, tx store.Tx, f *store.Forgotten) (bool, error) {
	for _, h := range f.ForgottenBy {
		st, err := tx.Status(ctx, h)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		var m *message.Message
		switch {
		case st.Record != nil:
			m = &st.Record.Message
		case len(st.Pending) > 0:
			m = st.Pending[0].Message
		default:
			continue
		}
		if m.Type != message.TypeForget || m.ItemType != message.ItemInline || !strings.EqualFold(m.Sender, f.Sender) {
			continue
		}
		c, err := message.ParseContent(m, []byte(m.ItemContent))
		if err != nil || c.Forget == nil {
			continue
		}
		if slices.Contains(c.Forget.Hashes, f.ItemHash) {
			return true, nil
		}
	}
	return false, nil
}
