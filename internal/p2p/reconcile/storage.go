package reconcile

// Storage is the ordered set one side reconciles, read by position. A session
// needs the set to stay the same while it runs: implementations serve a
// snapshot (an in-memory [Snapshot], or a read transaction of the node's
// database). Methods may be called from one goroutine at a time per session;
// an immutable storage can serve many sessions at once.
type Storage interface {
	// Len returns the number of items.
	Len() int
	// At returns the item at position i, 0 <= i < Len(), in (Time, ID) order.
	At(i int) Item
	// Hash returns the original Aleph item hash of the item at position i
	// (what [HashID] was applied to): 64 hex digits, or 16 to 128 letters
	// and digits (a CID). A peer rejects other forms.
	Hash(i int) string
	// Search returns the first position p in [lo, hi) with At(p) >= key, or
	// hi if there is none. 0 <= lo <= hi <= Len().
	Search(lo, hi int, key Item) int
	// Sum returns the sum of the ids of the items at positions [lo, hi).
	// It must be fast (O(log n) or better) for any range: a session asks for
	// it at every range it compares.
	Sum(lo, hi int) Sum
}
