package crn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// POST /control/allocations (spec compute-node §3.4, §3.6, §5): the
// scheduler tells the node which persistent programs and instances it
// should run, signed as allocations_auth.go describes. The body is
//
//	{"persistent_vms": [item hash], "instances": [item hash], "on_demand_vms": null, "jobs": null}
//
// persistent_vms and instances are required lists; on_demand_vms and jobs
// may be null or lists and are ignored, as by the reference; any other
// key, another type or a malformed hash gets 400.
//
// Every persistent program listed is started and supervised
// (persistent.go); an instance fails, since this node has no instance
// backend. The programs of the scheduler's previous allocation that the
// new one leaves out are stopped first — except, in
// PersistentFromMessages mode, those the node runs anyway because their
// message says on.persistent. At most maxAllocationStarts programs start
// at once, all within Config.PrepareTimeout. The answer is
//
//	{"success": bool, "successful": [hash], "failing": [hash], "stopped": [hash], "errors": {hash: reason}}
//
// with 200 when nothing failed, 207 when some did and others started, and
// 503 when all failed. One allocation is applied at a time.

// maxAllocationStarts bounds the programs an allocation starts at once.
const maxAllocationStarts = 4

// errNoInstances is the failure of an allocated instance.
var errNoInstances = errors.New("instances are not supported: this node has no instance backend")

// allocationBody is the body of POST /control/allocations.
type allocationBody struct {
	PersistentVMs *[]string `json:"persistent_vms"`
	Instances     *[]string `json:"instances"`
	OnDemandVMs   []string  `json:"on_demand_vms"`
	Jobs          []string  `json:"jobs"`
}

// allocationResult is the answer of POST /control/allocations.
type allocationResult struct {
	Success    bool              `json:"success"`
	Successful []string          `json:"successful"`
	Failing    []string          `json:"failing"`
	Stopped    []string          `json:"stopped"`
	Errors     map[string]string `json:"errors"`
}

// allocator applies the scheduler's allocations.
type allocator struct {
	s        *Server
	auth     *schedulerAuth
	requests *prometheus.CounterVec // requests by status code
	results  *prometheus.CounterVec // programs by result

	mu        sync.Mutex      // one allocation at a time; taken before pool.mu
	allocated map[string]bool // programs the scheduler placed and the node supervises
}

func newAllocator(s *Server) *allocator {
	a := &allocator{s: s, auth: newSchedulerAuth(s), allocated: map[string]bool{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_crn_allocation_requests_total",
			Help: "POST /control/allocations requests, by HTTP status code."}, []string{"code"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_crn_allocations_total",
			Help: "Programs and instances of the scheduler's allocations, by result (started, failed, stopped)."},
			[]string{"result"}),
	}
	s.metrics.registry.MustRegister(a.requests, a.results)
	return a
}

// decodeAllocation reads and checks an allocation body.
func decodeAllocation(body []byte) (*allocationBody, error) {
	var a allocationBody
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&a); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%s: a %s where a %s is expected", te.Field, te.Value, te.Type)
		}
		return nil, fmt.Errorf("malformed JSON: %v", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("malformed JSON: data after the object")
	}
	if a.PersistentVMs == nil {
		return nil, errors.New("persistent_vms: a list of item hashes is required")
	}
	if a.Instances == nil {
		return nil, errors.New("instances: a list of item hashes is required")
	}
	programs := map[string]bool{}
	for field, list := range map[string][]string{"persistent_vms": *a.PersistentVMs, "instances": *a.Instances,
		"on_demand_vms": a.OnDemandVMs, "jobs": a.Jobs} {
		for _, h := range list {
			if !isItemHash(h) {
				return nil, fmt.Errorf("%s: %q is not an item hash", field, h)
			}
		}
	}
	for _, h := range *a.PersistentVMs {
		programs[h] = true
	}
	for _, h := range *a.Instances {
		if programs[h] {
			return nil, fmt.Errorf("%s is listed both in persistent_vms and in instances", h)
		}
	}
	return &a, nil
}

// allocations answers POST /control/allocations.
func (s *Server) allocations(w http.ResponseWriter, r *http.Request) {
	a := s.alloc
	body, signer, ae := a.auth.authenticate(w, r)
	if ae != nil {
		a.requests.WithLabelValues(strconv.Itoa(ae.status)).Inc()
		s.log.Info("allocation refused", "status", ae.status, "reason", ae.reason, "remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(ae.status)
		fmt.Fprintln(w, ae.reason)
		return
	}
	alloc, err := decodeAllocation(body)
	if err != nil {
		a.requests.WithLabelValues("400").Inc()
		writeError(w, http.StatusBadRequest, "Invalid allocation: "+err.Error())
		return
	}
	// The allocation goes on if the scheduler hangs up: it is bounded by
	// PrepareTimeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.PrepareTimeout)
	defer cancel()
	res := a.apply(ctx, alloc)
	status := http.StatusOK
	switch {
	case len(res.Failing) == 0:
	case len(res.Successful) == 0:
		status = http.StatusServiceUnavailable
	default:
		status = http.StatusMultiStatus
	}
	a.requests.WithLabelValues(strconv.Itoa(status)).Inc()
	s.log.Info("allocation applied", "signer", signer, "successful", len(res.Successful), "failing", len(res.Failing),
		"stopped", len(res.Stopped))
	writeJSON(w, status, res)
}

// apply stops the programs the allocation leaves out, then starts those
// it lists.
func (a *allocator) apply(ctx context.Context, alloc *allocationBody) *allocationResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.s
	res := &allocationResult{Successful: []string{}, Failing: []string{}, Stopped: []string{}, Errors: map[string]string{}}
	want := map[string]bool{}
	for _, h := range *alloc.PersistentVMs {
		want[h] = true
	}
	var fromMessages map[string]bool
	if s.cfg.Persistent == PersistentFromMessages {
		fromMessages = map[string]bool{}
		for _, h := range s.reg.persistentPrograms() {
			fromMessages[h] = true
		}
	}
	for h := range a.allocated {
		if want[h] {
			continue
		}
		delete(a.allocated, h)
		if fromMessages[h] {
			continue // the node runs it anyway (persistent.go)
		}
		s.log.Info("execution no longer allocated, stopping", "hash", h)
		a.deallocate(ctx, h)
		res.Stopped = append(res.Stopped, h)
		a.results.WithLabelValues("stopped").Inc()
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxAllocationStarts)
	for h := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			select {
			case slots <- struct{}{}:
				err = a.start(ctx, h)
				<-slots
			case <-ctx.Done():
				err = fmt.Errorf("not started within %s", s.cfg.PrepareTimeout)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				_, msg := statusOf(err)
				res.Failing = append(res.Failing, h)
				res.Errors[h] = msg
				a.results.WithLabelValues("failed").Inc()
				s.log.Warn("allocated program failed to start", "hash", h, "err", msg)
				return
			}
			res.Successful = append(res.Successful, h)
			a.results.WithLabelValues("started").Inc()
		}()
	}
	wg.Wait()
	for _, h := range *alloc.Instances {
		if _, dup := res.Errors[h]; dup {
			continue
		}
		res.Failing = append(res.Failing, h)
		res.Errors[h] = errNoInstances.Error()
		a.results.WithLabelValues("failed").Inc()
	}
	for h := range want {
		if s.supervisorDone(h) != nil {
			a.allocated[h] = true
		}
	}
	for _, l := range [][]string{res.Successful, res.Failing, res.Stopped} {
		sort.Strings(l)
	}
	res.Success = len(res.Failing) == 0
	return res
}

// start makes sure program hash runs supervised and returns the result of
// its start.
func (a *allocator) start(ctx context.Context, hash string) error {
	s := a.s
	for {
		if s.life.Err() != nil {
			return ErrDraining
		}
		first := make(chan error, 1)
		if s.startSupervision(s.life, hash, first) {
			select {
			case err := <-first:
				return err
			case <-ctx.Done():
				s.unsupervise([]string{hash})
				return fmt.Errorf("not started within %s", s.cfg.PrepareTimeout)
			}
		}
		if s.supervisorDone(hash) == nil {
			continue // its supervision ended meanwhile
		}
		// Supervised already (allocated before, or persistent by its
		// message): report how it runs now.
		e, _, err := s.pool.acquire(ctx, hash)
		if err != nil {
			return err
		}
		s.pool.release(e)
		return nil
	}
}

// deallocate ends the supervision of hash and stops its execution.
func (a *allocator) deallocate(ctx context.Context, hash string) {
	s := a.s
	s.unsupervise([]string{hash})
	if done := s.supervisorDone(hash); done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
	}
	s.pool.mu.Lock()
	e := s.pool.execs[hash]
	s.pool.mu.Unlock()
	if e == nil {
		return
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		return
	}
	if e.err == nil {
		s.stopExecution(e, true)
	}
}
