// Package gateway is the public edge of the network (aleph gateway run):
// it maps a request's Host to a program and forwards the request to a
// compute node that announces the program.
//
// Hosts are routed as the compute nodes route them (spec compute-node.md
// §1.3): "<base32 hash>.<zone>" names the program directly; any other host
// is a custom domain whose TXT record "_aleph-id.<host>" holds the item hash
// (spec network.md §5), or that the owner named by "_control.<host>" maps
// to a program in their "domains" aggregate (domains.go). TXT answers are cached for their TTL, and so are
// misses (bounded caches), so unknown hosts answer 404 without a DNS query
// each.
//
// The compute nodes that run a program are read from their "executions"
// announcements on a core node (docs/design/0007-executions-announcements.md):
// running entries with a fresh heartbeat only. A request goes to the less
// loaded of two random healthy nodes; a node that refuses connections or
// answers 502, 503 or 504 is ejected for a while, and a failed request
// without a body is retried once on another node. Active health checks
// (health.go) probe every known node's /about/usage/system and take
// failing ones out of rotation. When no node runs an on-demand program,
// or the nodes serving it pass a load threshold, the gateway places it on
// a known node with capacity, whose first request starts it (scale.go,
// docs/design/0012-gateway-placement.md); persistent programs and
// instances go only where they run. HTTP upgrades (websockets) are
// relayed.
//
// With TLS on, certmagic obtains certificates on demand, only for hosts
// the gateway would route (the ownership check runs before any ACME
// order), keeps them in a directory, and the HTTP listener redirects to
// HTTPS.
package gateway
