// Package p2p connects a core node to its peers: a libp2p host with a
// persistent identity, gossipsub on the Aleph message topic (ALEPH-TEST) and
// the liveness topic (ALIVE), a table of peers (bootstrap, learnt from alive
// messages, HTTP API servers probed on /api/v0/version) and the HTTP content
// exchange a node uses to fetch content and STORE files it misses.
//
// Received messages go through the node's own ingestion (Node.Submit, origin
// "p2p") inside a gossipsub validator, so a node forwards only what it
// accepted (processed or pending) and never re-broadcasts what it rejected.
// Messages the node processes from its API are published from its
// processed-message bus.
//
// Catch-up after downtime runs sync sessions on the protocol SyncProtocol
// (sync.go), with the set reconciliation of p2p/reconcile.
package p2p
