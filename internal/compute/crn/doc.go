// Package crn is the Aleph-facing layer of the compute node (`aleph compute
// run`): it routes HTTP requests to programs (spec compute-node §1.3 and
// §5), keeps one execution per PROGRAM message (§1.2, §3.1–3.3), and
// prepares executions from a core node: the PROGRAM message, its refs
// resolved (use_latest, §1.6), and its code, runtime, data and volumes
// downloaded into a verified on-disk cache. Running a program is the job
// of a compute.Backend chosen by the program's runtime.
//
// # How a PROGRAM says "wasm"
//
// The official message schema only knows the interfaces asgi and binary,
// so a WASI program says nothing new in its code: its runtime.ref points to
// a STORE of a small file whose content is WASMRuntimeMarker. The node
// downloads the runtime like any other and, when it is the marker, runs
// the program on the "wasm" backend; the code (plain: the module itself;
// zip: an archive, code.entrypoint naming the module inside) is a WASI
// preview-1 module reached CGI-style (see internal/compute/wasm). Any
// other runtime goes to Config.DefaultBackend (the sandbox, when there is
// one). Messages of that shape pass the reference schema unchanged.
//
// # Updates
//
// A running execution keeps the refs it resolved. The node follows its
// core node's WebSocket feed: a STORE amend (content.ref) by the program's
// owner of a use_latest ref, or a FORGET of the program, retires the
// execution (requests in flight finish on it) and the next request
// prepares the new version. An execution stopped by its idle timeout is
// prepared afresh too, so it resolves its refs again.
package crn
