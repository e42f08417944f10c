package crn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
)

// pool holds the executions, one per program hash (spec §1.2). Its mutex
// guards the map, the capacity counters and every execution's runs,
// retired, idle and reserved fields.
type pool struct {
	s      *Server
	ctx    context.Context // canceled by close: ends preparations
	cancel context.CancelFunc
	wg     sync.WaitGroup // preparations and instance watchers

	mu       sync.Mutex
	execs    map[string]*execution
	live     map[*execution]bool // not stopped yet, in the map or retired
	memory   int64               // MiB reserved by executions
	vcpus    int
	inflight int // requests holding an execution
	draining bool
	idle     chan struct{} // closed when inflight drops to 0 while draining
	// persistent are the supervised programs (persistent.go): no idle
	// timeout; the function ends the supervision.
	persistent map[string]context.CancelFunc
	// supervisors are closed when the supervision of their program ends.
	supervisors map[string]chan struct{}
}

// execution is one program's instance and its bookkeeping.
type execution struct {
	hash  string
	ready chan struct{} // closed when preparation ended; then err or prog+inst are set
	err   error
	prog  *program
	inst  compute.Instance

	defined, prepared time.Time

	// under pool.mu
	runs     int         // requests using it
	retired  bool        // out of the map: stopped when runs drops to 0
	idle     *time.Timer // armed while runs == 0
	reserved bool        // counts in the pool's capacity
	memory   int64
	vcpus    int

	stopOnce sync.Once
}

func newPool(s *Server) *pool {
	ctx, cancel := context.WithCancel(context.Background())
	return &pool{s: s, ctx: ctx, cancel: cancel, execs: map[string]*execution{}, live: map[*execution]bool{},
		persistent: map[string]context.CancelFunc{}, supervisors: map[string]chan struct{}{}}
}

// acquire returns the ready execution of hash, preparing one if there is
// none (cold is then true). The caller must release it.
func (p *pool) acquire(ctx context.Context, hash string) (e *execution, cold bool, err error) {
	p.mu.Lock()
	if p.draining {
		p.mu.Unlock()
		return nil, false, ErrDraining
	}
	e = p.execs[hash]
	if e != nil && e.dead() {
		p.retireLocked(e)
		if e.runs == 0 {
			p.wg.Add(1)
			go func(e *execution) { defer p.wg.Done(); p.stop(e) }(e)
		}
		e = nil
	}
	if e == nil {
		e = &execution{hash: hash, ready: make(chan struct{}), defined: time.Now()}
		p.execs[hash] = e
		p.live[e] = true
		cold = true
		p.wg.Add(1)
		go p.prepare(e)
	}
	e.runs++
	p.inflight++
	if e.idle != nil {
		e.idle.Stop()
		e.idle = nil
	}
	p.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		p.release(e)
		return nil, cold, ctx.Err()
	}
	if e.err != nil {
		p.release(e)
		return nil, cold, e.err
	}
	return e, cold, nil
}

// dead reports whether e failed or its instance exited. Under pool.mu.
func (e *execution) dead() bool {
	select {
	case <-e.ready:
	default:
		return false
	}
	if e.err != nil {
		return true
	}
	select {
	case <-e.inst.Done():
		return true
	default:
		return false
	}
}

// release ends a request's use of e.
func (p *pool) release(e *execution) {
	p.mu.Lock()
	e.runs--
	p.inflight--
	if p.inflight == 0 && p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
	stop := false
	if e.runs == 0 {
		switch {
		case e.retired:
			stop = e.err == nil
		case e.err != nil:
		case p.isPersistentLocked(e.hash): // kept running
		case p.s.cfg.IdleTimeout < 0:
			p.retireLocked(e)
			stop = true
		default:
			e.idle = time.AfterFunc(p.s.cfg.IdleTimeout, func() { p.expire(e) })
		}
	}
	p.mu.Unlock()
	if stop {
		p.stop(e)
	}
}

// expire stops e after its idle timeout, unless a request came meanwhile.
func (p *pool) expire(e *execution) {
	p.mu.Lock()
	if e.runs > 0 || e.retired || p.isPersistentLocked(e.hash) {
		p.mu.Unlock()
		return
	}
	p.retireLocked(e)
	p.mu.Unlock()
	p.s.log.Info("execution idle, stopping", "hash", e.hash)
	p.stop(e)
}

// retireLocked takes e out of the map: the next request for its program
// prepares a new execution. Under pool.mu.
func (p *pool) retireLocked(e *execution) {
	if p.execs[e.hash] == e {
		delete(p.execs, e.hash)
	}
	e.retired = true
	if e.idle != nil {
		e.idle.Stop()
		e.idle = nil
	}
}

// retire takes the executions that match out of the map and stops those
// without requests in flight (the others stop after their last request).
func (p *pool) retire(match func(*execution) bool, why string) {
	p.mu.Lock()
	var stop []*execution
	for _, e := range p.execs {
		select {
		case <-e.ready:
		default:
			continue // preparing: it will see the new version anyway
		}
		if e.err == nil && match(e) {
			p.retireLocked(e)
			if e.runs == 0 {
				stop = append(stop, e)
			}
		}
	}
	p.mu.Unlock()
	for _, e := range stop {
		p.s.log.Info("execution retired", "hash", e.hash, "why", why)
		p.stop(e)
	}
}

// stop stops e's instance and frees its capacity.
func (p *pool) stop(e *execution) {
	e.stopOnce.Do(func() {
		if e.inst != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := e.inst.Stop(ctx); err != nil {
				p.s.log.Warn("stop execution", "hash", e.hash, "err", err)
			}
			cancel()
			p.s.announce.stoppedExec(e.hash)
		}
		if e.prog != nil {
			e.prog.cleanup()
		}
		p.mu.Lock()
		p.unreserveLocked(e)
		delete(p.live, e)
		p.mu.Unlock()
	})
}

// admit reserves e's resources, or fails with ErrCapacity.
func (p *pool) admit(e *execution, memory int64, vcpus int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.memory+memory > p.s.cfg.MemoryMiB || p.vcpus+vcpus > p.s.cfg.VCPUs {
		return &Error{Status: http.StatusServiceUnavailable, Reason: ErrCapacity.Reason,
			Err: fmt.Errorf("program needs %d MiB and %d vCPUs; %d of %d MiB and %d of %d vCPUs are taken",
				memory, vcpus, p.memory, p.s.cfg.MemoryMiB, p.vcpus, p.s.cfg.VCPUs)}
	}
	p.memory += memory
	p.vcpus += vcpus
	e.memory, e.vcpus, e.reserved = memory, vcpus, true
	p.s.metrics.reserved.Set(float64(p.memory))
	return nil
}

func (p *pool) unreserveLocked(e *execution) {
	if e.reserved {
		p.memory -= e.memory
		p.vcpus -= e.vcpus
		e.reserved = false
		p.s.metrics.reserved.Set(float64(p.memory))
	}
}

// prepare readies e: message, admission, downloads, backend.
func (p *pool) prepare(e *execution) {
	defer p.wg.Done()
	ctx, cancel := context.WithTimeout(p.ctx, p.s.cfg.PrepareTimeout)
	defer cancel()
	start := time.Now()
	prog, inst, err := p.prepareProgram(ctx, e)
	p.mu.Lock()
	if err != nil {
		if p.execs[e.hash] == e {
			delete(p.execs, e.hash)
		}
		p.unreserveLocked(e)
		delete(p.live, e)
		e.err = err
		p.mu.Unlock()
		close(e.ready)
		status, msg := statusOf(err)
		p.s.log.Info("preparation failed", "hash", e.hash, "status", status, "err", msg)
		p.s.metrics.prepares.WithLabelValues("", "error").Inc()
		return
	}
	e.prog, e.inst, e.prepared = prog, inst, time.Now()
	p.mu.Unlock()
	// Announced before the execution is ready: once ready, it may serve
	// its request and stop (idle timeout -1) before this goroutine runs
	// on, and its "stopped" must come after its "running".
	p.s.announce.runningExec(e.hash, prog.backend.Name())
	close(e.ready)
	p.s.metrics.prepares.WithLabelValues(prog.backend.Name(), "ok").Inc()
	p.s.metrics.prepareSeconds.WithLabelValues(prog.backend.Name()).Observe(time.Since(start).Seconds())
	p.s.log.Info("execution ready", "hash", e.hash, "backend", prog.backend.Name(), "code", prog.codeRef,
		"duration", time.Since(start))

	// Watch the instance: one that exits by itself is retired, so the next
	// request prepares the program again.
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		<-inst.Done()
		p.mu.Lock()
		wasRetired := e.retired
		if !wasRetired {
			p.retireLocked(e)
		}
		stop := e.runs == 0
		p.mu.Unlock()
		if !wasRetired {
			p.s.log.Warn("execution exited", "hash", e.hash)
		}
		if stop {
			p.stop(e)
		}
	}()
}

func (p *pool) prepareProgram(ctx context.Context, e *execution) (*program, compute.Instance, error) {
	if err := p.s.pay.refused(e.hash); err != nil {
		return nil, nil, err
	}
	content, err := p.s.fetchMessage(ctx, e.hash)
	if err != nil {
		return nil, nil, err
	}
	if err := p.admit(e, content.Resources.Memory, content.Resources.VCPUs); err != nil {
		return nil, nil, err
	}
	prog, err := p.s.load(ctx, e.hash, content)
	if err != nil {
		return nil, nil, err
	}
	inst, err := prog.backend.Prepare(ctx, prog.spec)
	if err != nil {
		prog.cleanup()
		if errors.Is(err, compute.ErrInvalidSpec) { // the program's fault
			return nil, nil, wrap(http.StatusUnprocessableEntity, err, "Program %s cannot run", e.hash)
		}
		return nil, nil, wrap(http.StatusInternalServerError, err, "Error during vm initialisation")
	}
	fail := func(err error, reason string) (*program, compute.Instance, error) {
		inst.Stop(context.WithoutCancel(ctx))
		prog.cleanup()
		return nil, nil, wrap(http.StatusInternalServerError, err, "%s", reason)
	}
	if err := inst.Start(ctx); err != nil {
		return fail(err, "Error during vm initialisation")
	}
	rctx, cancel := context.WithTimeout(ctx, p.s.cfg.ReadyTimeout)
	defer cancel()
	if err := inst.Ready(rctx); err != nil {
		return fail(err, "Error during runtime initialisation")
	}
	return prog, inst, nil
}

// drain refuses new requests and waits for those in flight, until ctx ends.
func (p *pool) drain(ctx context.Context) error {
	p.mu.Lock()
	p.draining = true
	if p.inflight == 0 {
		p.mu.Unlock()
		return nil
	}
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	idle := p.idle
	p.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops every execution and waits for the pool's goroutines.
func (p *pool) close() {
	p.cancel()
	p.mu.Lock()
	p.draining = true
	all := make([]*execution, 0, len(p.live))
	for e := range p.live {
		p.retireLocked(e)
		all = append(all, e)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-e.ready // preparation ends: its context is canceled
			p.stop(e)
		}()
	}
	wg.Wait()
	p.wg.Wait()
}

// executionInfo describes a running execution for the about routes.
type executionInfo struct {
	Hash     string
	Owner    string
	Backend  string
	Runs     int
	Defined  time.Time
	Prepared time.Time
	Memory   int64
	VCPUs    int
	// Persistent: supervised (allocated, or persistent by its message).
	Persistent bool
}

// list returns the running executions, sorted by hash.
func (p *pool) list() []executionInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []executionInfo
	for _, e := range p.execs {
		select {
		case <-e.ready:
		default:
			continue
		}
		if e.err != nil {
			continue
		}
		out = append(out, executionInfo{Hash: e.hash, Owner: e.prog.owner, Backend: e.prog.backend.Name(), Runs: e.runs,
			Defined: e.defined, Prepared: e.prepared, Memory: e.memory, VCPUs: e.vcpus,
			Persistent: p.isPersistentLocked(e.hash)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hash < out[j].Hash })
	return out
}
