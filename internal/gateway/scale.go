package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

// Defaults of placement and scale-out.
const (
	DefaultScaleInflight = 64
	DefaultScaleLatency  = 2 * time.Second
	DefaultScaleMax      = 4
	DefaultScaleCooldown = 10 * time.Second
	DefaultPlacementTTL  = 10 * time.Minute
)

// Why a program cannot be placed on a node of the gateway's choice.
var (
	errUnknownProgram = errors.New("gateway: no such program")
	errNotPlaceable   = errors.New("gateway: the program runs only where its owner placed it")
	errNoCapacity     = errors.New("gateway: no compute node has room for the program")
	errBusy           = errors.New("gateway: too many program lookups in flight")
)

// programInfo is what the gateway needs of a program's message to place
// it: only an on-demand PROGRAM may be started on a node of the gateway's
// choice; a persistent one and an INSTANCE run where they were placed.
type programInfo struct {
	placeable bool
	memoryMiB int64
}

// scaler brings compute nodes into a program's rotation: a node with
// capacity when none runs the program (its first request starts it
// there), and one more when a node serving it is over the thresholds.
// Those placements add to the directory's announced targets while they
// are used: each success through one keeps it PlacementTTL longer. Safe
// for concurrent use.
type scaler struct {
	dir  *Directory
	core *client.Client
	http *http.Client // usage probes of nodes not probed yet
	cfg  scaleConfig

	infos   *ttlCache[programInfo]
	missing *ttlCache[struct{}]
	group   singleflight.Group
	lookups chan struct{} // bounds the message lookups in flight

	mu        sync.RWMutex
	placed    map[string][]placement // by program hash
	lastScale map[string]time.Time

	metrics *metrics
	log     *slog.Logger
	now     func() time.Time
}

type scaleConfig struct {
	// Inflight and Latency are the thresholds of a node serving a
	// program (0: not checked): past either, one more node joins, at most
	// one per Cooldown and up to Max nodes per program.
	Inflight int
	Latency  time.Duration
	Max      int
	Cooldown time.Duration
	// TTL is how long a placement lasts after its last success.
	TTL time.Duration
	// MaxLoadPercent: a node whose one-minute load per CPU is above
	// this (percent) takes no new program (0: no limit).
	MaxLoadPercent int
}

type placement struct {
	t     target
	until *atomic.Int64 // Unix nanoseconds
}

func newScaler(dir *Directory, core *client.Client, hc *http.Client, cfg scaleConfig, m *metrics, log *slog.Logger) *scaler {
	return &scaler{dir: dir, core: core, http: hc, cfg: cfg,
		infos: newTTLCache[programInfo](DefaultCacheSize), missing: newTTLCache[struct{}](DefaultCacheSize),
		lookups: make(chan struct{}, 64), placed: map[string][]placement{}, lastScale: map[string]time.Time{},
		metrics: m, log: log, now: time.Now}
}

// targets returns the nodes serving hash: the announced ones and the
// live placements.
func (s *scaler) targets(hash string) []target {
	ts := s.dir.targets(hash)
	s.mu.RLock()
	pl := s.placed[hash]
	s.mu.RUnlock()
	if len(pl) == 0 {
		return ts
	}
	now := s.now().UnixNano()
	out := slices.Clone(ts)
	for _, p := range pl {
		if now < p.until.Load() && !hasUpstream(out, p.t.up) {
			out = append(out, p.t)
		}
	}
	return out
}

func hasUpstream(ts []target, up *Upstream) bool {
	return slices.ContainsFunc(ts, func(t target) bool { return t.up == up })
}

// used records a success of hash through up: its placement, if any,
// lasts TTL longer.
func (s *scaler) used(hash string, up *Upstream) {
	s.mu.RLock()
	pl := s.placed[hash]
	s.mu.RUnlock()
	for _, p := range pl {
		if p.t.up == up {
			p.until.Store(s.now().Add(s.cfg.TTL).UnixNano())
		}
	}
}

// start places hash, which no node runs, on a node with capacity, never
// one of avoid. Concurrent first requests share one placement.
func (s *scaler) start(ctx context.Context, hash string, avoid []*Upstream, reason string) (target, error) {
	key := hash
	for _, up := range avoid {
		key += " " + up.base
	}
	return shared(ctx, &s.group, key, func() (target, error) {
		for _, t := range s.targets(hash) {
			if !slices.Contains(avoid, t.up) {
				return t, nil // placed (or announced) meanwhile
			}
		}
		return s.place(context.WithoutCancel(ctx), hash, avoid, reason)
	})
}

// overloaded reports whether up is past a scale-out threshold.
func (s *scaler) overloaded(up *Upstream) bool {
	return (s.cfg.Inflight > 0 && up.inflight.Load() >= int64(s.cfg.Inflight)) ||
		(s.cfg.Latency > 0 && time.Duration(up.latency.Load()) >= s.cfg.Latency)
}

// maybeScaleOut brings one more node into the rotation of hash, served by
// ts, when the node t chosen for a request is overloaded, at most once
// per Cooldown, in the background.
func (s *scaler) maybeScaleOut(hash string, ts []target, t target) {
	if len(ts) >= s.cfg.Max || !s.overloaded(t.up) {
		return
	}
	now := s.now()
	s.mu.Lock()
	if last, ok := s.lastScale[hash]; ok && now.Sub(last) < s.cfg.Cooldown {
		s.mu.Unlock()
		return
	}
	s.lastScale[hash] = now
	s.mu.Unlock()
	avoid := make([]*Upstream, 0, len(ts))
	for _, x := range ts {
		avoid = append(avoid, x.up)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.place(ctx, hash, avoid, "scale_out"); err != nil {
			s.log.Debug("no scale-out", "program", hash, "err", err)
		}
	}()
}

// place chooses a node for hash, not one of avoid, and adds it to the
// program's rotation.
func (s *scaler) place(ctx context.Context, hash string, avoid []*Upstream, reason string) (target, error) {
	info, err := s.info(ctx, hash)
	if err != nil {
		return target{}, err
	}
	if !info.placeable {
		return target{}, errNotPlaceable
	}
	up := s.choose(ctx, info, avoid)
	if up == nil {
		return target{}, errNoCapacity
	}
	t := target{up: up, url: up.base + "/vm/" + hash}
	p := placement{t: t, until: new(atomic.Int64)}
	now := s.now()
	p.until.Store(now.Add(s.cfg.TTL).UnixNano())
	s.mu.Lock()
	pl := s.placed[hash][:0:0]
	for _, old := range s.placed[hash] { // drop the expired ones
		if now.UnixNano() < old.until.Load() && old.t.up != up {
			pl = append(pl, old)
		}
	}
	s.placed[hash] = append(pl, p)
	if reason == "scale_out" {
		s.lastScale[hash] = now
	}
	s.mu.Unlock()
	up.pendingKB.Add(info.memoryMiB << 20 / 1000)
	s.metrics.placements.WithLabelValues(hash, up.base, reason).Inc()
	s.log.Info("program placed", "program", hash, "upstream", up.base, "reason", reason)
	return t, nil
}

// choose returns the healthy node, not one of avoid, with the most memory
// available (less what the gateway placed there since its last probe)
// among those with room for memMiB and under the load limit; nil if none.
// Nodes never probed are probed now.
func (s *scaler) choose(ctx context.Context, info programInfo, avoid []*Upstream) *Upstream {
	now := s.now()
	var cands []*Upstream
	for _, up := range s.dir.Nodes() {
		if up.healthy(now) && !up.lowScore.Load() && !slices.Contains(avoid, up) {
			cands = append(cands, up)
		}
	}
	var wg sync.WaitGroup
	for _, up := range cands {
		if up.usage.Load() == nil {
			wg.Go(func() {
				pctx, cancel := context.WithTimeout(ctx, DefaultHealthTimeout)
				defer cancel()
				if u, err := fetchUsage(pctx, s.http, up.base); err == nil {
					up.setUsage(u)
				}
			})
		}
	}
	wg.Wait()
	var best *Upstream
	var bestKB int64
	for _, up := range cands {
		u := up.usage.Load()
		if u == nil || (u.Active != nil && !*u.Active) {
			continue
		}
		if s.cfg.MaxLoadPercent > 0 && u.loadPerCPU()*100 > float64(s.cfg.MaxLoadPercent) {
			continue
		}
		free := u.Mem.AvailableKB - up.pendingKB.Load()
		if free < info.memoryMiB<<20/1000 {
			continue
		}
		if best == nil || free > bestKB || (free == bestKB && up.inflight.Load() < best.inflight.Load()) {
			best, bestKB = up, free
		}
	}
	return best
}

// info returns what placing hash needs to know, from its message on the
// core node (cached: 10 minutes, a missing program 30 seconds).
func (s *scaler) info(ctx context.Context, hash string) (programInfo, error) {
	now := s.now()
	if i, ok := s.infos.get(hash, now); ok {
		return i, nil
	}
	if _, ok := s.missing.get(hash, now); ok {
		return programInfo{}, errUnknownProgram
	}
	return shared(ctx, &s.group, "info "+hash, func() (programInfo, error) {
		select {
		case s.lookups <- struct{}{}:
			defer func() { <-s.lookups }()
		default:
			return programInfo{}, errBusy
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		i, err := s.lookup(lctx, hash)
		switch {
		case errors.Is(err, errUnknownProgram):
			s.missing.put(hash, struct{}{}, s.now(), 30*time.Second)
		case err == nil:
			s.infos.put(hash, i, s.now(), 10*time.Minute)
		}
		return i, err
	})
}

func (s *scaler) lookup(ctx context.Context, hash string) (programInfo, error) {
	r, err := s.core.Message(ctx, hash)
	if errors.Is(err, client.ErrNotFound) {
		return programInfo{}, errUnknownProgram
	}
	if err != nil {
		return programInfo{}, fmt.Errorf("gateway: reading program %s: %w", hash, err)
	}
	if r.Status != client.StatusProcessed || r.Message == nil {
		return programInfo{}, errUnknownProgram
	}
	switch r.Message.Type {
	case message.TypeInstance:
		return programInfo{}, nil
	case message.TypeProgram:
	default:
		return programInfo{}, errUnknownProgram
	}
	var c struct {
		On struct {
			Persistent bool `json:"persistent"`
		} `json:"on"`
		Resources struct {
			Memory int64 `json:"memory"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(r.Message.Content, &c); err != nil {
		return programInfo{}, errUnknownProgram
	}
	return programInfo{placeable: !c.On.Persistent, memoryMiB: max(c.Resources.Memory, 0)}, nil
}
