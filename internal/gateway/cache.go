package gateway

import (
	"sync"
	"time"
)

// ttlCache maps names to values that expire, holding at most max entries:
// when full, an expired entry is dropped, else an arbitrary one (Go's
// map order), so a flood of new names cannot grow it. Safe for
// concurrent use.
type ttlCache[V any] struct {
	mu      sync.Mutex
	max     int
	entries map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[V any](max int) *ttlCache[V] {
	return &ttlCache[V]{max: max, entries: make(map[string]ttlEntry[V])}
}

// get returns the value of name if it has not expired at now.
func (c *ttlCache[V]) get(name string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[name]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put stores v for name until now+ttl.
func (c *ttlCache[V]) put(name string, v V, now time.Time, ttl time.Duration) {
	if c.max <= 0 || ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[name]; !ok && len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[name] = ttlEntry[V]{v: v, expires: now.Add(ttl)}
}

// evict drops one entry, an expired one if it meets one among the first
// few it looks at.
func (c *ttlCache[V]) evict(now time.Time) {
	victim, n := "", 0
	for k, e := range c.entries {
		if victim == "" || !now.Before(e.expires) {
			victim = k
			if !now.Before(e.expires) {
				break
			}
		}
		if n++; n == 8 {
			break
		}
	}
	delete(c.entries, victim)
}

// len returns the number of entries, expired ones included.
func (c *ttlCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
