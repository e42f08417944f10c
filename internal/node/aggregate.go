package node

import (
	"context"
	"encoding/json"
	"errors"
	"sort"

	"github.com/goaleph/goaleph/internal/store"
)

// unmergedOwner's aggregate elements are stored but never merged: a quirk
// of the reference node, kept so that nodes agree on aggregate values.
const unmergedOwner = "0x51A58800b26AA1451aaA803d1746687cB88E0501"

// aggregates processes AGGREGATE messages: the value of (owner, key) is the
// shallow merge of its elements' contents in content-time order.
// Elements of the pricing aggregate are validated (a malformed one is
// rejected) and refresh the prices.
type aggregates struct{ econ *economyState }

func (h aggregates) check(ctx context.Context, tx store.Tx, it *item) error {
	if err := checkPermission(ctx, tx, it.msg.Sender, it.target()); err != nil {
		return err
	}
	return h.econ.checkPricing(it)
}

func (h aggregates) apply(ctx context.Context, tx store.Tx, it *item) error {
	a := it.content.Aggregate
	if h.econ != nil && h.econ.isPricing(it.content.Address, a.Key) {
		h.econ.invalidate()
	}
	el := &store.AggregateElement{
		ItemHash:     it.msg.ItemHash,
		Owner:        it.content.Address,
		Key:          a.Key,
		Content:      a.Content,
		CreationTime: it.content.Time,
	}
	if err := tx.InsertAggregateElement(el); err != nil {
		return err
	}
	if el.Owner == unmergedOwner {
		return nil
	}
	cur, err := tx.Aggregates(ctx, el.Owner, []string{el.Key})
	if err != nil {
		return err
	}
	if len(cur) == 1 && el.CreationTime >= cur[0].LastRevisionTime {
		// The common case: a newer element merges on top.
		merged, err := mergeObjects(cur[0].Content, el.Content)
		if err != nil {
			return err
		}
		agg := cur[0]
		agg.Content, agg.LastRevisionHash, agg.LastRevisionTime = merged, el.ItemHash, el.CreationTime
		return tx.PutAggregate(&agg)
	}
	return recomputeAggregate(tx, el.Owner, el.Key)
}

// recomputeAggregate rebuilds (owner, key) from all its elements.
func recomputeAggregate(tx store.Tx, owner, key string) error {
	els, err := tx.AggregateElements(owner, key)
	if err != nil {
		return err
	}
	if len(els) == 0 {
		return tx.PutAggregate(&store.Aggregate{Owner: owner, Key: key})
	}
	sort.SliceStable(els, func(i, j int) bool { return els[i].CreationTime < els[j].CreationTime })
	content := json.RawMessage(`{}`)
	for _, e := range els {
		if content, err = mergeObjects(content, e.Content); err != nil {
			return err
		}
	}
	last := els[len(els)-1]
	return tx.PutAggregate(&store.Aggregate{
		Owner: owner, Key: key, Content: content,
		CreationTime: els[0].CreationTime, LastRevisionHash: last.ItemHash, LastRevisionTime: last.CreationTime,
	})
}

// mergeObjects returns base with the top-level keys of top written over it.
func mergeObjects(base, top json.RawMessage) (json.RawMessage, error) {
	var b, t map[string]json.RawMessage
	if err := json.Unmarshal(base, &b); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(top, &t); err != nil {
		return nil, err
	}
	if b == nil {
		b = map[string]json.RawMessage{}
	}
	for k, v := range t {
		b[k] = v
	}
	return json.Marshal(b)
}

func (h aggregates) forget(ctx context.Context, tx store.Tx, target *store.Record, by *item) error {
	if h.econ != nil && h.econ.isPricing(target.Owner, target.ContentKey) {
		h.econ.invalidate()
	}
	if err := tx.DeleteAggregateElement(target.ItemHash); err != nil {
		return err
	}
	if target.Owner == unmergedOwner {
		return nil
	}
	err := recomputeAggregate(tx, target.Owner, target.ContentKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
