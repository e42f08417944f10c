package sqlite

import (
	"context"
	"errors"

	"github.com/goaleph/goaleph/internal/store"
)

// errNotImplemented marks queries not written yet.
var errNotImplemented = errors.New("not implemented")

func (r reader) ListMessages(ctx context.Context, f store.MessageFilter) (*store.MessagePage, error) {
	return nil, errNotImplemented
}

func (r reader) ListPosts(ctx context.Context, f store.PostFilter) (*store.PostPage, error) {
	return nil, errNotImplemented
}

func (r reader) ListAggregates(ctx context.Context, f store.AggregateFilter) (*store.AggregatePage, error) {
	return nil, errNotImplemented
}

func (r reader) AddressStats(ctx context.Context, addresses []string) (map[string]map[string]int, error) {
	return nil, errNotImplemented
}

func (r reader) Channels(ctx context.Context) ([]string, error) {
	return nil, errNotImplemented
}
