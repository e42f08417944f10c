// Package reconcile finds the difference between two nodes' sets of processed
// messages with range-based set reconciliation (Aljoscha Meyer's RBSR, as in
// Negentropy), so that a node coming back online can fetch exactly what it
// missed.
//
// A set is a list of items — (timestamp, 32-byte id) pairs ordered by
// timestamp then id — that a [Storage] exposes by position. Each side
// fingerprints ranges of the ordered set; ranges whose fingerprints differ are
// split into buckets, small ranges are exchanged as id lists. The bytes and
// round trips spent grow with the size of the difference and the logarithm of
// the set, not with the set.
//
// The package does no I/O of its own beyond the framing helpers: a [Session]
// turns one incoming message into the next outgoing one, so any transport
// that carries byte messages works (a libp2p stream through [Sync] and
// [Serve], or a request/response exchange calling [Session.Step]). Both sides
// end with the item hashes the other side lacks ([Result.Have]) and those it
// lacks itself ([Result.Need]); the caller then fetches or offers those
// messages through the normal pipeline.
//
// docs/design/0002-set-reconciliation.md describes the protocol, the wire
// format and the measured costs.
package reconcile
