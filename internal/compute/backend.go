// Package compute is the compute node (CRN): it runs PROGRAM messages on
// demand behind HTTP. This file is the contract between the node's
// Aleph-facing layer (routes, executions, downloads) and the backends that
// isolate and run a program (wasm: wazero in-process; sandbox: bubblewrap;
// later QEMU micro VMs), after the layering of the compute-node spec §11.
package compute

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Scope is one request to a program, the ASGI-like scope of the
// compute-node spec §1.4: an HTTP request with its whole body, or a message
// event for message-triggered programs.
type Scope struct {
	// Type is "http", or "aleph.message" for an event.
	Type        string
	Method      string
	Path        string // begins with "/"
	QueryString string // raw, without "?"
	// Headers are the request headers, names lowercased, in order.
	Headers [][2]string
	Body    []byte
}

// Response is a program's answer to a Scope.
type Response struct {
	Status  int
	Headers [][2]string // names lowercased
	Body    []byte
}

// Interface is how a program is reached.
type Interface string

// Program interfaces.
const (
	// Executable programs serve HTTP on port 8080 inside their isolation.
	Executable Interface = "executable"
	// ASGI programs are a Python "module:app" served by a launcher of the
	// runtime.
	ASGI Interface = "asgi"
	// WASM programs are WASI preview-1 modules reached CGI-style: the
	// request as environment and stdin, the response on stdout.
	WASM Interface = "wasm"
)

// Volume is a file system made available to a program.
type Volume struct {
	Mount    string // path inside the program's root
	Source   string // path on the host (directory or image)
	ReadOnly bool
}

// Spec is everything a backend needs to run one program. Paths are on the
// host and already verified (downloads are re-hashed before use).
type Spec struct {
	// ProgramHash is the PROGRAM message's item hash.
	ProgramHash string
	Interface   Interface
	// Entrypoint is the executable's path relative to the code, the ASGI
	// "module:app", or empty for WASM.
	Entrypoint string
	// Code is the program's code: a directory (unpacked code), or the
	// module file for WASM.
	Code string
	// Runtime is the root file system the program runs on (sandbox and
	// VM backends); empty for WASM.
	Runtime   string
	Volumes   []Volume
	Variables map[string]string
	// MemoryMiB and VCPUs are the program's resources.memory and
	// resources.vcpus; Timeout is resources.seconds, per request.
	MemoryMiB int
	VCPUs     int
	Timeout   time.Duration
	// Internet lets the program open network connections.
	Internet bool
}

// Backend prepares instances of programs.
type Backend interface {
	// Name is the backend's name in configuration and metrics.
	Name() string
	// Prepare checks spec and readies what the instance needs (compiled
	// module, root file system), without starting it.
	Prepare(ctx context.Context, spec Spec) (Instance, error)
}

// Instance is one running (or ready to run) program.
type Instance interface {
	// Start starts the program; Ready returns once it can take calls.
	Start(ctx context.Context) error
	Ready(ctx context.Context) error
	// Call runs one request. Calls may run concurrently. A program that
	// does not answer within the spec's Timeout gets ErrTimeout; one that
	// died (out of memory, crashed) gets ErrExited.
	Call(ctx context.Context, s *Scope) (*Response, error)
	// Stop stops the program and releases its resources; it is safe to
	// call more than once.
	Stop(ctx context.Context) error
	// Logs returns the program's output (stdout and stderr) so far, the
	// most recent last, bounded by the backend.
	Logs() []LogLine
	// Done is closed when the program has exited, by Stop or by itself.
	Done() <-chan struct{}
}

// LogLine is one line a program wrote.
type LogLine struct {
	Time   time.Time
	Stream string // "stdout" or "stderr"
	Text   string
}

// ErrInvalidSpec wraps the errors of Prepare that are the program's own
// fault (an entrypoint its code lacks, a module that is not WebAssembly,
// a volume mounted where it cannot be), as opposed to the node's: a node
// answers them as the client's mistake (422). Their text names no host
// path.
var ErrInvalidSpec = errors.New("the program cannot run as published")

// Errors of Call.
var (
	ErrTimeout = errors.New("program did not respond within resources.seconds")
	ErrExited  = errors.New("program exited")
)

// Hostname is the host name of a program's isolation: the first 16 letters
// and digits of its hash, lowercased; "aleph" for a hash without any.
func Hostname(hash string) string {
	var s strings.Builder
	for _, r := range strings.ToLower(hash) {
		if s.Len() == 16 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			s.WriteRune(r)
		}
	}
	if s.Len() == 0 {
		return "aleph"
	}
	return s.String()
}
