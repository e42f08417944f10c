package wasm

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/goaleph/goaleph/internal/compute"
)

// A reactor program is a module that exports _initialize and ReactorExport
// (see doc.go). Its module instances are initialised once and kept in a
// pool, one call at a time each; an instance whose call failed is closed.

// pool is a reactor program's module instances.
type pool struct {
	slots chan struct{} // a token per instance in a call or being made

	mu     sync.Mutex
	idle   []*reactor // initialised, waiting for a call
	closed bool       // by Stop: instances are closed instead of kept
}

func newPool(size int) *pool { return &pool{slots: make(chan struct{}, size)} }

// reactor is one module instance of a reactor program. Its standard
// streams and its sleeps belong to the call it is serving.
type reactor struct {
	mod    api.Module
	entry  api.Function
	ctx    context.Context // the call's, for sleeps
	stdin  swapReader
	stdout swapWriter
	stderr swapWriter
}

// poolSize is how many module instances a reactor program may have.
func (b *Backend) poolSize(spec *compute.Spec) int {
	return min(max(spec.VCPUs, 1), b.cfg.ReactorPool)
}

// acquire waits for a free slot and returns an idle instance, or a new one
// initialised with ctx (its initialisation is part of the call). It
// reports ctx's end, or why the instance could not be made.
func (in *instance) acquire(ctx context.Context, stderr *stderrWriter) (*reactor, error) {
	p := in.pool
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		r := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return r, nil
	}
	p.mu.Unlock()
	r, err := in.newReactor(ctx, stderr)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return r, nil
}

// put ends a call on r: r goes back to the pool if the call went well,
// else (or once the pool is closed) it is closed.
func (p *pool) put(r *reactor, ok bool) {
	r.use(nil, nil, nil, nil)
	p.mu.Lock()
	keep := ok && !p.closed
	if keep {
		p.idle = append(p.idle, r)
	}
	p.mu.Unlock()
	if !keep {
		r.mod.Close(context.Background())
	}
	<-p.slots
}

// close closes the idle instances; later calls' instances are closed
// when they end. Calls must have ended.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, r := range idle {
		r.mod.Close(context.Background())
	}
}

// newReactor instantiates the module and runs its _initialize, with the
// program's variables as environment (and ALEPH_PROGRAM_HASH), and what it
// writes on stderr in stderr.
func (in *instance) newReactor(ctx context.Context, stderr *stderrWriter) (*reactor, error) {
	r := &reactor{ctx: ctx}
	r.stderr.w = stderr
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithArgs("program").
		WithStdin(&r.stdin).
		WithStdout(&r.stdout).
		WithStderr(&r.stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(func(ns int64) { sleep(r.ctx, ns) }).
		WithRandSource(rand.Reader).
		WithStartFunctions(reactorInitFunction)
	for _, kv := range reactorEnviron(&in.spec) {
		cfg = cfg.WithEnv(kv[0], kv[1])
	}
	if in.fs != nil {
		cfg = cfg.WithFSConfig(in.fs)
	}
	mod, err := in.module.runtime.InstantiateModule(ctx, in.module.compiled, cfg)
	if err != nil {
		if mod != nil {
			mod.Close(context.Background())
		}
		return nil, err
	}
	r.mod, r.entry = mod, mod.ExportedFunction(ReactorExport)
	r.use(nil, nil, nil, nil)
	return r, nil
}

// use gives r's streams and sleeps to a call (nil: to none).
func (r *reactor) use(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) {
	if ctx == nil {
		ctx = context.Background()
	}
	r.ctx, r.stdin.r, r.stdout.w, r.stderr.w = ctx, stdin, stdout, stderr
}

// callReactor serves s with an instance of the pool: the request on
// stdin, a call of the export, the CGI response on stdout.
func (in *instance) callReactor(ctx, callCtx context.Context, s *compute.Scope) (*compute.Response, error) {
	req, err := wireRequest(s)
	if err != nil {
		return nil, err
	}
	stderr := &stderrWriter{ring: in.logs}
	r, err := in.acquire(callCtx, stderr)
	if err != nil {
		stderr.flush()
		if in.isStopped() {
			return nil, errStopped
		}
		return nil, in.callError(ctx, callCtx, err, stderr)
	}
	stdout := &limitedBuffer{max: in.b.cfg.MaxResponseBytes}
	r.use(callCtx, bytes.NewReader(req), stdout, stderr)
	_, err = r.entry.Call(callCtx)
	// A trap leaves the instance in no known state, an exit or the end
	// of callCtx closed it: only a call that returned is kept.
	in.pool.put(r, err == nil)
	return in.answer(ctx, callCtx, err, stdout, stderr)
}

// warm makes the pool's first instance with callCtx (ctx bounded by the
// spec's Timeout), so that the first call finds the program initialised.
func (in *instance) warm(ctx, callCtx context.Context) error {
	stderr := &stderrWriter{ring: in.logs}
	r, err := in.acquire(callCtx, stderr)
	stderr.flush()
	if err != nil {
		if in.isStopped() {
			return errStopped
		}
		return in.callError(ctx, callCtx, err, stderr)
	}
	in.pool.put(r, true)
	return nil
}

// reactorEnviron is a reactor's environment: the program's variables and
// ALEPH_PROGRAM_HASH. Not GATEWAY_INTERFACE, which tells a CGI request
// (wasmguest looks at it), even if the program has a variable of that name.
func reactorEnviron(spec *compute.Spec) [][2]string {
	names := make([]string, 0, len(spec.Variables))
	for k := range spec.Variables {
		if k != "GATEWAY_INTERFACE" && k != "ALEPH_PROGRAM_HASH" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	env := [][2]string{{"ALEPH_PROGRAM_HASH", spec.ProgramHash}}
	for _, k := range names {
		env = append(env, [2]string{k, spec.Variables[k]})
	}
	return env
}

// scopeHeader is the request header that carries the scope's type to a
// reactor (wasmguest.ScopeHeader); a client's is dropped.
const scopeHeader = "aleph-scope-type"

// wireRequest is s as an HTTP/1.1 request: request line (the path and
// query as the program would see them through CGI: bytes that cannot be in
// a request line are percent-encoded), the headers that are valid (without
// Content-Length, Transfer-Encoding and the client's Aleph-Scope-Type),
// Aleph-Scope-Type, Content-Length, the body.
func wireRequest(s *compute.Scope) ([]byte, error) {
	if !validToken(s.Method) {
		return nil, fmt.Errorf("wasm: bad method %q", s.Method)
	}
	var b bytes.Buffer
	b.Grow(256 + len(s.Body))
	u := url.URL{Path: s.Path}
	b.WriteString(s.Method)
	b.WriteByte(' ')
	b.WriteString(u.EscapedPath())
	if u.Path == "" {
		b.WriteByte('/')
	}
	if s.QueryString != "" {
		b.WriteByte('?')
		for i := 0; i < len(s.QueryString); i++ {
			if c := s.QueryString[i]; c <= ' ' || c >= 0x7f || c == '#' {
				fmt.Fprintf(&b, "%%%02X", c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteString(" HTTP/1.1\r\n")
	for _, h := range s.Headers {
		name := strings.ToLower(h[0])
		switch {
		case !validToken(name) || strings.ContainsAny(h[1], "\r\n\x00"):
			continue
		case name == "content-length", name == "transfer-encoding", name == scopeHeader:
			continue
		}
		b.WriteString(h[0])
		b.WriteString(": ")
		b.WriteString(h[1])
		b.WriteString("\r\n")
	}
	b.WriteString("Aleph-Scope-Type: ")
	b.WriteString(s.Type)
	b.WriteString("\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(s.Body)))
	b.WriteString("\r\n\r\n")
	b.Write(s.Body)
	return b.Bytes(), nil
}

// swapReader reads from the current call's reader; without a call, it is
// at its end.
type swapReader struct{ r io.Reader }

func (s *swapReader) Read(p []byte) (int, error) {
	if s.r == nil {
		return 0, io.EOF
	}
	return s.r.Read(p)
}

// swapWriter writes to the current call's writer; without a call (during
// _initialize, for stdout), output is dropped.
type swapWriter struct{ w io.Writer }

func (s *swapWriter) Write(p []byte) (int, error) {
	if s.w == nil {
		return len(p), nil
	}
	return s.w.Write(p)
}
