package node

import (
	"sync"
	"sync/atomic"

	"github.com/goaleph/goaleph/internal/store"
)

// bus fans processed messages out to subscribers (WebSocket clients and
// the p2p service's re-broadcast). Slow subscribers lose messages
// rather than slowing the writer down.
type bus struct {
	mu     sync.Mutex
	subs   map[chan *store.Record]struct{}
	closed bool
	// published counts publish calls; it moves before any subscriber
	// can see the message.
	published atomic.Uint64
}

func newBus() *bus { return &bus{subs: map[chan *store.Record]struct{}{}} }

func (b *bus) subscribe(buffer int) (<-chan *store.Record, func()) {
	ch := make(chan *store.Record, buffer)
	b.mu.Lock()
	if b.closed {
		close(ch)
		b.mu.Unlock()
		return ch, func() {}
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			if _, ok := b.subs[ch]; ok {
				delete(b.subs, ch)
				close(ch)
			}
			b.mu.Unlock()
		})
	}
}

func (b *bus) publish(r *store.Record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.published.Add(1)
	for ch := range b.subs {
		select {
		case ch <- r:
		default:
		}
	}
}

func (b *bus) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
}
