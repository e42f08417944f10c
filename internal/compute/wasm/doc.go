// Package wasm is the compute node's "wasm" backend: it runs PROGRAM
// messages whose code is a WASI preview-1 module (interface "wasm") in this
// process, with wazero. See docs/design/0004-wasm-programs.md.
//
// # The program's interface (ABI)
//
// A program is a WASI preview-1 command, or a reactor (below): a module
// that imports nothing but wasi_snapshot_preview1 and exports _start and
// its memory, as `GOOS=wasip1 GOARCH=wasm go build` or `cargo build
// --target wasm32-wasip1` produce. Each request runs the command once,
// CGI-style (RFC 3875):
//
//   - the environment holds the request: REQUEST_METHOD, PATH_INFO (the
//     path under the program, beginning with "/"), QUERY_STRING (raw,
//     without "?"), CONTENT_LENGTH (the body's length), CONTENT_TYPE (if
//     the request has one), HTTP_<NAME> for every other header (name
//     upper-cased, "-" turned to "_"; repeated headers joined with ", ",
//     cookies with "; "; no HTTP_PROXY), SERVER_PROTOCOL=HTTP/1.1,
//     GATEWAY_INTERFACE=CGI/1.1, SERVER_SOFTWARE, SCRIPT_NAME (empty),
//     ALEPH_SCOPE_TYPE ("http", or "aleph.message" for a message event) and
//     ALEPH_PROGRAM_HASH; then the program's variables, except those whose
//     name the request already uses;
//   - standard input is the request body (the message, for an event);
//   - standard output is the response: header lines ("Name: value", ending
//     with LF or CRLF), a blank line, the body. "Status: 404 Not Found"
//     sets the status, which is otherwise 200 (302 with a Location
//     header). Output without a header block is ErrBadResponse;
//   - standard error goes to the instance's logs (the last
//     Config.LogLines lines);
//   - the exit code must be 0; another code, or a trap, fails the call
//     with compute.ErrExited and the end of standard error.
//
// argv is ["program"]. Clocks are real and random numbers come from the
// host's crypto/rand. There is no file system unless the program has
// volumes: each is a host directory mounted at its mount point (read-only
// unless the volume is writable). There is no network: WASI preview-1
// has no sockets, and the backend gives no other host functions.
//
// # Reactors: instances kept between requests
//
// A module that exports _initialize and ReactorExport ("aleph_http", a
// function without parameters or results) is a WASI reactor, as
// `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared` builds one with
// the wasmguest package (github.com/goaleph/goaleph/wasmguest). The
// backend instantiates it and runs _initialize once per module instance,
// keeps the instance, and serves each request with one call of the export:
//
//   - standard input is the request in HTTP/1.1 wire format: request line
//     (method, the path and query as CGI would give them, percent-encoded
//     where a request line needs it), the request headers (without
//     Content-Length, Transfer-Encoding, and header values holding line
//     breaks), Aleph-Scope-Type ("http" or "aleph.message"; a client's is
//     dropped), Content-Length, the body;
//   - standard output is the response, a CGI response as for a command;
//   - standard error goes to the logs;
//   - the environment, set once per module instance, holds the program's
//     variables (but GATEWAY_INTERFACE, which tells a CGI request) and
//     ALEPH_PROGRAM_HASH. Output on stdout outside a call is dropped.
//
// Package state thus persists from one request to the next. Calls on one
// module instance are sequential; an instance's pool keeps up to the
// program's vCPUs (at least 1, at most Config.ReactorPool) module
// instances, made when calls need them, so that many calls run at once;
// further calls wait for one, within their timeout. A call that traps,
// exits, times out or is cancelled closes its module instance (it is in
// no known state); the next call makes a new one. Start makes and
// initialises the first module instance.
//
// # Isolation and limits
//
// A command's every call instantiates the compiled module afresh: calls
// share no memory and may run concurrently. A call's memory is limited to the
// spec's MemoryMiB (a module asking for more fails to grow, which Go and
// Rust programs turn into an out-of-memory exit; a reactor's limit is per
// module instance), and its time to the spec's Timeout (compute.ErrTimeout): the compiled code checks for the
// deadline at function entries and loop heads, and sleeps end at it.
//
// # Compilation
//
// Prepare compiles a module once per content and memory limit, and the
// backend's instances of it share the compiled module (one wazero runtime
// per memory limit). Compiled modules stay in memory for the
// Config.MaxModules most recently prepared and, with Config.CacheDir, on
// disk across restarts. A Prepare of a known module only reads and hashes
// the file.
package wasm
