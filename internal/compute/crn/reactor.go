package crn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/message"
)

// The reactor runs message-triggered programs (spec §3.6): the PROGRAMs
// whose content.on.message lists subscriptions. It learns them from the
// core node — every PROGRAM listed at start, then every PROGRAM that
// arrives on the WebSocket — and matches each message of the WebSocket
// against their subscriptions. A program with a matching subscription
// runs once for the message, with the event scope
// {"type": "aleph.message", "body": <the message as the core node sent
// it>}. A FORGET of a program ends its subscriptions.
//
// A subscription is a JSON object matched against the message's JSON (the
// envelope as the core node sends it, with "content" the parsed content):
//
//   - every key of the subscription must be present in the message;
//   - an object value matches an object field key by key, recursively
//     (so {"content": {"type": "x"}} looks at the content's type);
//   - a list value matches a field equal to any of its elements (or a
//     list field equal to it);
//   - any other value (string, number, boolean, null) matches an equal
//     field;
//   - the empty subscription {} matches every message.
//
// The reference (aleph-vm) compares with == and recurses into attributes;
// the lists-as-alternatives rule is this node's extension and cannot
// change what a reference subscription matches, since the reference
// never matches a list against a scalar field.
//
// The message reaches a program like an HTTP POST to "/" whose body is
// the message's JSON, with the scope type "aleph.message": for the wasm
// backend REQUEST_METHOD=POST, PATH_INFO=/, CONTENT_TYPE=application/json,
// ALEPH_SCOPE_TYPE=aleph.message and the message on stdin. The program's
// answer is logged and counted (aleph_crn_events_total), not sent anywhere.

// maxEventsInFlight bounds the events running at once; a message that
// finds them all taken is dropped (and counted as "dropped").
const maxEventsInFlight = 64

// programInfo is what the node keeps of a known PROGRAM: its
// subscriptions and whether it is persistent.
type programInfo struct {
	hash       string
	owner      string
	subs       []map[string]any
	persistent bool
}

// registry holds the PROGRAMs with subscriptions or on.persistent.
type registry struct {
	s        *Server
	events   *prometheus.CounterVec
	restarts prometheus.Counter // persistent programs restarted
	slots    chan struct{}
	wg       sync.WaitGroup // events in flight

	mu       sync.Mutex
	programs map[string]*programInfo
	forgot   map[string]bool
	// onEvent, if set (tests), sees each event's outcome.
	onEvent func(program string, m *client.Message, resp *compute.Response, err error)
}

func newRegistry(s *Server) *registry {
	r := &registry{s: s, slots: make(chan struct{}, maxEventsInFlight), programs: map[string]*programInfo{},
		forgot: map[string]bool{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_crn_events_total",
			Help: "Message-triggered program runs, by result (ok, error, dropped)."}, []string{"result"})}
	r.restarts = prometheus.NewCounter(prometheus.CounterOpts{Name: "aleph_crn_persistent_restarts_total",
		Help: "Persistent programs started again after their instance exited."})
	s.metrics.registry.MustRegister(r.events, r.restarts)
	return r
}

// programOn reads the content.on of a PROGRAM.
func programOn(content json.RawMessage) (subs []map[string]any, persistent bool, ok bool) {
	var c struct {
		Type string `json:"type"`
		On   struct {
			Message    []map[string]any `json:"message"`
			Persistent *bool            `json:"persistent"`
		} `json:"on"`
	}
	d := json.NewDecoder(bytes.NewReader(content))
	d.UseNumber()
	if d.Decode(&c) != nil {
		return nil, false, false
	}
	return c.On.Message, c.On.Persistent != nil && *c.On.Persistent, true
}

// learn records a PROGRAM message; it returns the program if it is
// persistent and was not known before.
func (r *registry) learn(m *client.Message) (newPersistent bool) {
	if m.Type != message.TypeProgram {
		return false
	}
	subs, persistent, ok := programOn(m.Content)
	if !ok || (len(subs) == 0 && !persistent) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.forgot[m.ItemHash] {
		return false
	}
	_, known := r.programs[m.ItemHash]
	r.programs[m.ItemHash] = &programInfo{hash: m.ItemHash, owner: m.Sender, subs: subs, persistent: persistent}
	if len(subs) > 0 && !known {
		r.s.log.Info("program subscribed to messages", "hash", m.ItemHash, "subscriptions", len(subs))
	}
	return persistent && !known
}

// forget drops forgotten programs.
func (r *registry) forget(hashes []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range hashes {
		delete(r.programs, h)
		r.forgot[h] = true
	}
}

// persistentPrograms lists the known persistent programs, sorted.
func (r *registry) persistentPrograms() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for h, p := range r.programs {
		if p.persistent {
			out = append(out, h)
		}
	}
	sort.Strings(out)
	return out
}

// load lists the PROGRAM messages of the core node and learns them. It
// returns the number of programs listed.
func (r *registry) load(ctx context.Context) (int, error) {
	n := 0
	for page := 1; ; page++ {
		res, err := r.s.cfg.Client.Messages(ctx, client.MessageFilter{Types: []message.Type{message.TypeProgram},
			Page: page, Pagination: 200, Ascending: true})
		if err != nil {
			return n, err
		}
		for i := range res.Messages {
			r.learn(&res.Messages[i])
		}
		n += len(res.Messages)
		if len(res.Messages) == 0 || n >= res.Total {
			return n, nil
		}
	}
}

// matching returns the programs with a subscription that matches m.
func (r *registry) matching(m *client.Message) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.programs) == 0 {
		return nil
	}
	var doc map[string]any
	d := json.NewDecoder(bytes.NewReader(m.Raw))
	d.UseNumber()
	if d.Decode(&doc) != nil {
		return nil
	}
	var out []string
	for h, p := range r.programs {
		for _, sub := range p.subs {
			if matchSubscription(sub, doc) {
				out = append(out, h)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// matchSubscription reports whether every key of sub matches doc.
func matchSubscription(sub, doc map[string]any) bool {
	for k, want := range sub {
		got, ok := doc[k]
		if !ok || !matchValue(want, got) {
			return false
		}
	}
	return true
}

func matchValue(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		return ok && matchSubscription(w, g)
	case []any:
		if g, ok := got.([]any); ok {
			return equalJSON(w, g)
		}
		for _, alt := range w {
			if matchValue(alt, got) {
				return true
			}
		}
		return false
	default:
		return equalJSON(want, got)
	}
}

// equalJSON compares decoded JSON values (numbers as json.Number, compared
// by value).
func equalJSON(a, b any) bool {
	if x, ok := a.(json.Number); ok {
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		fx, ex := x.Float64()
		fy, ey := y.Float64()
		if ex != nil || ey != nil {
			return x == y
		}
		return fx == fy
	}
	ab, err1 := json.Marshal(a)
	bb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ab, bb)
}

// react runs the programs whose subscriptions match m, each in its own
// goroutine (bounded by maxEventsInFlight), until ctx ends.
func (r *registry) react(ctx context.Context, m *client.Message) {
	for _, h := range r.matching(m) {
		if h == m.ItemHash {
			continue // a program is not triggered by its own message
		}
		select {
		case r.slots <- struct{}{}:
		default:
			r.events.WithLabelValues("dropped").Inc()
			r.s.log.Warn("event dropped: too many events in flight", "program", h, "message", m.ItemHash)
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { <-r.slots }()
			r.run(ctx, h, m)
		}()
	}
}

// run runs program h for the message m.
func (r *registry) run(ctx context.Context, h string, m *client.Message) {
	start := time.Now()
	resp, err := r.call(ctx, h, m)
	result := "ok"
	if err != nil {
		result = "error"
		_, msg := statusOf(err)
		r.s.log.Warn("event failed", "program", h, "message", m.ItemHash, "err", msg)
	} else {
		r.s.log.Info("event ran", "program", h, "message", m.ItemHash, "status", resp.Status,
			"duration", time.Since(start))
	}
	r.events.WithLabelValues(result).Inc()
	r.mu.Lock()
	hook := r.onEvent
	r.mu.Unlock()
	if hook != nil {
		hook(h, m, resp, err)
	}
}

func (r *registry) call(ctx context.Context, h string, m *client.Message) (*compute.Response, error) {
	e, _, err := r.s.pool.acquire(ctx, h)
	if err != nil {
		return nil, err
	}
	defer r.s.pool.release(e)
	scope := &compute.Scope{Type: "aleph.message", Method: "POST", Path: "/", Body: m.Raw,
		Headers: [][2]string{{"content-type", "application/json"}}}
	cctx, cancel := context.WithTimeout(ctx, e.prog.content.timeout()+2*time.Second)
	defer cancel()
	resp, err := e.inst.Call(cctx, scope)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		err = compute.ErrTimeout
	}
	return resp, err
}
