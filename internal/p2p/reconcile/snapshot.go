package reconcile

import (
	"encoding/hex"
	"slices"
)

// sumStride is the distance between two stored prefix sums of a Snapshot:
// a range sum adds at most 2*(sumStride-1) ids, and the prefix sums take
// 32/sumStride bytes per item.
const sumStride = 16

// Snapshot is an immutable in-memory [Storage]: a sorted slice of items with
// prefix sums of their ids. It is safe for concurrent use. Build one with a
// [Builder].
type Snapshot struct {
	items []Item
	sums  []Sum // sums[k] is the sum of items[:k*sumStride]
	// names holds the item hashes that are not the hex form of their id
	// (CIDs); the others are derived from the id.
	names map[ID]string
}

var _ Storage = (*Snapshot)(nil)

// Builder collects items for a [Snapshot]. The zero value is ready to use.
type Builder struct {
	items []Item
	names map[ID]string
}

// NewBuilder returns a Builder with room for sizeHint items.
func NewBuilder(sizeHint int) *Builder {
	return &Builder{items: make([]Item, 0, sizeHint)}
}

// Add adds the message with the given time (seconds since the epoch) and item
// hash.
func (b *Builder) Add(time float64, itemHash string) {
	id, ok := decodeHexHash(itemHash)
	if !ok {
		id = HashID(itemHash)
		if b.names == nil {
			b.names = make(map[ID]string)
		}
		b.names[id] = itemHash
	}
	b.items = append(b.items, Item{Time: TimeKey(time), ID: id})
}

// AddItem adds an item whose id is the hex decoding of its item hash (see
// [HashID]); it is the fast path for sha256 item hashes.
func (b *Builder) AddItem(it Item) {
	b.items = append(b.items, it)
}

// Len returns the number of items added so far.
func (b *Builder) Len() int { return len(b.items) }

// Build sorts the items, drops duplicates and returns the snapshot. The
// Builder must not be used afterwards. Items added in (Time, ID) order (as a
// database index returns them) sort in linear time.
func (b *Builder) Build() *Snapshot {
	items := b.items
	b.items = nil
	if !slices.IsSortedFunc(items, Item.Compare) {
		slices.SortFunc(items, Item.Compare)
	}
	items = slices.CompactFunc(items, func(x, y Item) bool { return x == y })
	sums := make([]Sum, len(items)/sumStride+1)
	var acc Sum
	for i := range items {
		if i%sumStride == 0 {
			sums[i/sumStride] = acc
		}
		acc.Add(&items[i].ID)
	}
	if len(items)%sumStride == 0 {
		sums[len(items)/sumStride] = acc
	}
	return &Snapshot{items: items, sums: sums, names: b.names}
}

// Len implements [Storage].
func (s *Snapshot) Len() int { return len(s.items) }

// At implements [Storage].
func (s *Snapshot) At(i int) Item { return s.items[i] }

// Hash implements [Storage].
func (s *Snapshot) Hash(i int) string {
	id := &s.items[i].ID
	if name, ok := s.names[*id]; ok {
		return name
	}
	return hex.EncodeToString(id[:])
}

// Search implements [Storage].
func (s *Snapshot) Search(lo, hi int, key Item) int {
	i, _ := slices.BinarySearchFunc(s.items[lo:hi], key, Item.Compare)
	return lo + i
}

// Sum implements [Storage].
func (s *Snapshot) Sum(lo, hi int) Sum {
	sum := s.prefix(hi)
	sum.SubSum(s.prefix(lo))
	return sum
}

// prefix returns the sum of the ids of items[:i].
func (s *Snapshot) prefix(i int) Sum {
	k := i / sumStride
	acc := s.sums[k]
	for j := k * sumStride; j < i; j++ {
		acc.Add(&s.items[j].ID)
	}
	return acc
}
