package wasm

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"

	"github.com/goaleph/goaleph/internal/compute"
)

// instance is a prepared program: a reference to its compiled module. For
// a command, each call instantiates the module afresh, so calls share
// nothing; a reactor's calls use the module instances of its pool.
type instance struct {
	b        *Backend
	spec     compute.Spec
	module   *module
	stopping context.Context // canceled by Stop, ends calls in flight
	stop     context.CancelFunc
	fs       wazero.FSConfig // nil: no file system
	logs     *compute.LogRing
	pool     *pool // a reactor's instances; nil for a command

	mu      sync.Mutex
	started bool
	stopped bool
	calls   sync.WaitGroup // calls in flight, while !stopped
	done    chan struct{}
}

var _ compute.Instance = (*instance)(nil)

func newInstance(b *Backend, spec compute.Spec, m *module, fs wazero.FSConfig) *instance {
	stopping, stop := context.WithCancel(context.Background())
	in := &instance{
		b: b, spec: spec, module: m, fs: fs, stopping: stopping, stop: stop,
		logs: compute.NewLogRing(b.cfg.LogLines),
		done: make(chan struct{}),
	}
	if m.reactor {
		in.pool = newPool(b.poolSize(&spec))
	}
	return in
}

// errStopped is returned by calls to a stopped instance.
var errStopped = fmt.Errorf("%w: instance stopped", compute.ErrExited)

// Start marks the instance started: the module is compiled already. A
// command runs only during calls; a reactor's first module instance is
// made and initialised here (within the spec's Timeout), and an
// initialisation that fails is Start's error.
func (in *instance) Start(ctx context.Context) error {
	in.mu.Lock()
	if in.stopped {
		in.mu.Unlock()
		return errStopped
	}
	if in.pool == nil || in.started {
		in.started = true
		in.mu.Unlock()
		return nil
	}
	in.calls.Add(1)
	in.mu.Unlock()
	defer in.calls.Done()

	callCtx, cancel := in.callContext(ctx)
	defer cancel()
	if err := in.warm(ctx, callCtx); err != nil {
		return fmt.Errorf("wasm: initialising the reactor: %w", err)
	}
	in.mu.Lock()
	in.started = true
	in.mu.Unlock()
	return nil
}

// callContext is ctx, ended also by Stop and after the spec's Timeout.
func (in *instance) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	callCtx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(in.stopping, cancel)
	if in.spec.Timeout > 0 {
		var cancelTimeout context.CancelFunc
		callCtx, cancelTimeout = context.WithTimeout(callCtx, in.spec.Timeout)
		return callCtx, func() { cancelTimeout(); unhook(); cancel() }
	}
	return callCtx, func() { unhook(); cancel() }
}

// Ready returns at once: a started instance can take calls.
func (in *instance) Ready(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case in.stopped:
		return errStopped
	case !in.started:
		return errors.New("wasm: instance not started")
	}
	return nil
}

// Call runs the module once for s (a command), or calls the export of a
// module instance of the pool (a reactor); see the package documentation
// for the interface. It fails with ErrTimeout after the spec's Timeout, with
// ErrExited (and the end of stderr) if the module traps or exits with a
// code other than 0, and with ErrBadResponse if its output is not a CGI
// response.
func (in *instance) Call(ctx context.Context, s *compute.Scope) (*compute.Response, error) {
	in.mu.Lock()
	switch {
	case in.stopped:
		in.mu.Unlock()
		return nil, errStopped
	case !in.started:
		in.mu.Unlock()
		return nil, errors.New("wasm: instance not started")
	}
	in.calls.Add(1)
	in.mu.Unlock()
	defer in.calls.Done()

	callCtx, cancel := in.callContext(ctx)
	defer cancel()
	if in.pool != nil {
		return in.callReactor(ctx, callCtx, s)
	}
	stdout := &limitedBuffer{max: in.b.cfg.MaxResponseBytes}
	stderr := &stderrWriter{ring: in.logs}
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: instances of one module can run side by side
		WithArgs("program").
		WithStdin(bytes.NewReader(s.Body)).
		WithStdout(stdout).
		WithStderr(stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(func(ns int64) { sleep(callCtx, ns) }).
		WithRandSource(rand.Reader)
	for _, kv := range environ(&in.spec, s) {
		cfg = cfg.WithEnv(kv[0], kv[1])
	}
	if in.fs != nil {
		cfg = cfg.WithFSConfig(in.fs)
	}

	mod, err := in.module.runtime.InstantiateModule(callCtx, in.module.compiled, cfg)
	if mod != nil {
		mod.Close(context.Background())
	}
	return in.answer(ctx, callCtx, err, stdout, stderr)
}

// answer turns the end of a call, err and what the module wrote, into the
// call's result.
func (in *instance) answer(ctx, callCtx context.Context, err error, stdout *limitedBuffer, stderr *stderrWriter) (*compute.Response, error) {
	stderr.flush()
	if in.isStopped() {
		return nil, errStopped
	}
	if err != nil {
		return nil, in.callError(ctx, callCtx, err, stderr)
	}
	if stdout.exceeded {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrBadResponse, stdout.max)
	}
	return parseResponse(stdout.buf.Bytes())
}

// callError explains why a module did not finish well.
func (in *instance) callError(ctx, callCtx context.Context, err error, stderr *stderrWriter) error {
	if ctx.Err() != nil { // the caller gave up
		return ctx.Err()
	}
	if errors.Is(callCtx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (%s)", compute.ErrTimeout, in.spec.Timeout)
	}
	words := stderr.lastWords()
	if words != "" {
		words = ": " + words
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%w with code %d%s", compute.ErrExited, exit.ExitCode(), words)
	}
	// A trap (unreachable, out of bounds…) or an instantiation failure
	// (memory larger than allowed).
	return fmt.Errorf("%w: %v%s", compute.ErrExited, err, words)
}

func (in *instance) isStopped() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stopped
}

// sleep is the module's nanosleep: the real clock, cut short when the
// call (ctx) ends, so a sleeping module cannot outlive its timeout.
func sleep(ctx context.Context, ns int64) {
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Stop ends the instance: calls in flight end with ErrExited, a reactor's
// module instances are closed, and the compiled module is released
// (closed if the backend keeps it no more). Safe to call more than once.
func (in *instance) Stop(ctx context.Context) error {
	in.mu.Lock()
	if in.stopped {
		in.mu.Unlock()
		<-in.done
		return nil
	}
	in.stopped = true
	in.mu.Unlock()

	// Calls in flight see their context end at their next check.
	in.stop()
	in.calls.Wait()
	if in.pool != nil {
		in.pool.close()
	}
	in.b.release(in.module)
	close(in.done)
	return nil
}

// Logs returns the last lines the program wrote on stderr (stdout is the
// response).
func (in *instance) Logs() []compute.LogLine { return in.logs.Lines() }

// Done is closed once Stop has released the instance.
func (in *instance) Done() <-chan struct{} { return in.done }
