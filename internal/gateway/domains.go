package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/goaleph/goaleph/client"
)

// DefaultDomainsTTL is how long an owner's "domains" aggregate is kept.
const DefaultDomainsTTL = time.Minute

// domainsKey is the aggregate key of an owner's custom domains (spec
// network.md §5.1).
const domainsKey = "domains"

// domainsResolver is the second source of custom domains: the TXT
// record "_control.<domain>" names the owner (the ownership proof the
// reference's tooling checks), and the owner's "domains" aggregate maps
// the domain to a program or an instance:
//
//	{"app.example.org": {"type": "program", "message_id": "<item hash>", …}}
//
// Entries of type ipfs (static sites) are not the gateway's, and a
// detached domain (a null entry) names nothing. Aggregates are cached per
// owner for ttl, missing ones too. Safe for concurrent use.
type domainsResolver struct {
	txt   *TXTResolver
	core  *client.Client
	ttl   time.Duration
	aggs  *ttlCache[map[string]string] // owner → domain → item hash
	group singleflight.Group
	now   func() time.Time
}

func newDomainsResolver(txt *TXTResolver, core *client.Client, cacheSize int) *domainsResolver {
	return &domainsResolver{txt: txt, core: core, ttl: DefaultDomainsTTL,
		aggs: newTTLCache[map[string]string](cacheSize), now: time.Now}
}

// Program returns the item hash the owner of domain maps it to in their
// "domains" aggregate, or an error matching ErrNoProgram.
func (d *domainsResolver) Program(ctx context.Context, domain string) (string, error) {
	owner, err := d.txt.Owner(ctx, domain)
	if err != nil {
		return "", err
	}
	m, err := d.domains(ctx, owner)
	if err != nil {
		return "", err
	}
	if h, ok := m[domain]; ok {
		return h, nil
	}
	return "", ErrNoProgram
}

// domains returns owner's domains that name programs or instances.
func (d *domainsResolver) domains(ctx context.Context, owner string) (map[string]string, error) {
	if m, ok := d.aggs.get(owner, d.now()); ok {
		return m, nil
	}
	return shared(ctx, &d.group, owner, func() (map[string]string, error) {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		raw, err := d.core.Aggregate(actx, owner, domainsKey)
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			// The core node failed: not remembered as a miss.
			return nil, errors.Join(ErrNoProgram, err)
		}
		m := parseDomains(raw)
		d.aggs.put(owner, m, d.now(), d.ttl)
		return m, nil
	})
}

// shared runs f once for concurrent callers of one key (singleflight):
// f runs to its end even if the caller that started it leaves, and each
// caller waits for it until its own ctx ends.
func shared[T any](ctx context.Context, g *singleflight.Group, key string, f func() (T, error)) (T, error) {
	ch := g.DoChan(key, func() (any, error) { return f() })
	select {
	case res := <-ch:
		if res.Err != nil {
			var zero T
			return zero, res.Err
		}
		return res.Val.(T), nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// parseDomains reads a "domains" aggregate: domain (normalised) → item
// hash of its program or instance.
func parseDomains(raw json.RawMessage) map[string]string {
	var entries map[string]*struct {
		Type      string `json:"type"`
		MessageID string `json:"message_id"`
	}
	out := map[string]string{}
	if json.Unmarshal(raw, &entries) != nil {
		return out
	}
	for name, e := range entries {
		if e == nil || (e.Type != "program" && e.Type != "instance") {
			continue
		}
		h := strings.ToLower(e.MessageID)
		name = strings.TrimSuffix(strings.ToLower(name), ".")
		if isHexHash(h) && validName(name) {
			out[name] = h
		}
	}
	return out
}
