package node

import (
	"context"
	"errors"
	"unicode/utf8"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// item is one message moving through the pipeline.
type item struct {
	p       store.Pending
	msg     *message.Message
	content *message.Content
	size    int64
	// gen invalidates stale retry timers: a timer fires only if its gen
	// is still the item's.
	gen int
	// verified is set once the signature was checked and the content
	// fetched and parsed.
	verified bool
	// err is the failure of the verify stage, recorded by the applier.
	err error
	// forgot lists the messages a FORGET item forgot in this batch.
	forgot []string
}

// handler implements one message type. check runs first and must not
// write; apply writes the type's projections; forget undoes them when a
// FORGET targets a message of this type.
type handler interface {
	check(ctx context.Context, tx store.Tx, it *item) error
	apply(ctx context.Context, tx store.Tx, it *item) error
	forget(ctx context.Context, tx store.Tx, target *store.Record, by *item) error
}

// depError marks a retryable error caused by a missing message or file:
// the item is woken as soon as that hash is applied.
type depError struct{ hash string }

func (d *depError) Error() string { return "waiting for " + d.hash }

// missing returns a retryable protocol error that waits on hash.
func missing(code message.Code, hash string) error {
	return &message.Error{Code: code, Err: &depError{hash: hash}}
}

// missingHash returns the hash err waits on, if any.
func missingHash(err error) string {
	var d *depError
	if errors.As(err, &d) {
		return d.hash
	}
	return ""
}

// record builds the messages row of a checked item.
func (it *item) record() *store.Record {
	m, c := it.msg, it.content
	r := &store.Record{
		Message:       *m,
		Content:       c.Raw,
		Size:          it.size,
		Status:        store.StatusProcessed,
		ReceptionTime: it.p.ReceptionTime,
		Owner:         c.Address,
	}
	switch {
	case c.Post != nil:
		r.ContentType, r.ContentRef = c.Post.Type, c.Post.Ref
	case c.Aggregate != nil:
		r.ContentKey = c.Aggregate.Key
	case c.Store != nil:
		r.ContentRef, r.ContentItemHash, r.PaymentType = c.Store.Ref, c.Store.ItemHash, c.Store.PaymentType
	case c.Program != nil:
		r.PaymentType = c.Program.PaymentType
	case c.Instance != nil:
		r.PaymentType = c.Instance.PaymentType
	}
	return r
}

// inlineSize is the size of inline content as the reference node counts it
// (characters).
func inlineSize(s string) int64 { return int64(utf8.RuneCountInString(s)) }

// target returns the permission attributes of an item.
func (it *item) target() target {
	t := target{Owner: it.content.Address, Chain: it.msg.Chain, Channel: it.msg.Channel, Type: it.msg.Type}
	if it.content.Post != nil {
		t.PostType = it.content.Post.Type
	}
	if it.content.Aggregate != nil {
		t.Key = it.content.Aggregate.Key
	}
	return t
}
