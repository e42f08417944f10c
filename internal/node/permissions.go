package node

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// authorization is one entry of a "security" aggregate's authorizations.
type authorization struct {
	Address       string   `json:"address"`
	Chain         string   `json:"chain"`
	Channels      []string `json:"channels"`
	Types         []string `json:"types"`
	PostTypes     []string `json:"post_types"`
	AggregateKeys []string `json:"aggregate_keys"`
}

// target is what a permission is checked against: the attributes of the
// message being created (or forgotten, or amended).
type target struct {
	Owner    string // content.address
	Chain    string
	Channel  string
	Type     message.Type
	PostType string // POST content.type
	Key      string // AGGREGATE content.key
}

// authorized reports whether sender may create (or forget) a message with
// the attributes of t: the sender is the owner, or the owner's security
// aggregate has a matching authorization (spec §4). The owner lookup of the
// aggregate is exact-case, as in the reference node.
func authorized(ctx context.Context, r store.Reader, sender string, t target) (bool, error) {
	if strings.EqualFold(sender, t.Owner) {
		return true, nil
	}
	sec, err := r.Security(ctx, t.Owner)
	if err != nil || sec == nil {
		return false, err
	}
	var content struct {
		Authorizations []authorization `json:"authorizations"`
	}
	if json.Unmarshal(sec, &content) != nil {
		return false, nil
	}
	for _, a := range content.Authorizations {
		if a.matches(sender, t) {
			return true, nil
		}
	}
	return false, nil
}

func (a authorization) matches(sender string, t target) bool {
	if a.Address == "" || !strings.EqualFold(a.Address, sender) {
		return false
	}
	if a.Chain != "" && a.Chain != t.Chain {
		return false
	}
	if len(a.Channels) > 0 && !contains(a.Channels, t.Channel) {
		return false
	}
	if len(a.Types) > 0 && !contains(a.Types, string(t.Type)) {
		return false
	}
	if t.Type == message.TypePost && len(a.PostTypes) > 0 && !contains(a.PostTypes, t.PostType) {
		return false
	}
	if t.Type == message.TypeAggregate && len(a.AggregateKeys) > 0 && !contains(a.AggregateKeys, t.Key) {
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// targetOf returns the permission attributes of a processed message.
func targetOf(r *store.Record) target {
	return target{Owner: r.Owner, Chain: r.Chain, Channel: r.Channel, Type: r.Type, PostType: r.ContentType, Key: r.ContentKey}
}
