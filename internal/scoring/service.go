package scoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/gateway"
	"github.com/goaleph/goaleph/internal/prom"
	"github.com/goaleph/goaleph/message"
)

// Defaults of the scoring service (the reference's cadence: hourly
// probes, scores over the last 24 hours).
const (
	DefaultInterval = time.Hour
	DefaultWindow   = 24 * time.Hour
	// DefaultAggregateOwner owns the reference's corechannel aggregate,
	// which the core node probe reads.
	DefaultAggregateOwner = "0xa1B3bb7d2332383D96b7796B908fB7f7F3c2Be10"
)

// Config configures a Service.
type Config struct {
	// Client is the API of the core node the service reads the log from
	// and publishes through.
	Client *client.Client
	// Signer signs the measurements and scores posts.
	Signer message.Signer
	// Interval is the period of probe rounds and of scores; Window is how
	// far back a score looks; Settle is how long after a period ends its
	// scores are computed, so that every scorer's measurements of it have
	// reached the log. Zero: DefaultInterval, DefaultWindow, Interval/2.
	Interval, Window, Settle time.Duration
	// Spread is the range of each node's random offset inside a round
	// (zero: Interval/2).
	Spread time.Duration
	// Scorers are the addresses whose measurements count; empty: every
	// sender's (only safe on a network where posting on the channel is
	// restricted).
	Scorers []string
	// CoreNodes are the base URLs of the core nodes to probe.
	CoreNodes []string
	// ComputeNodes are base URLs of compute nodes probed even when they
	// announce nothing.
	ComputeNodes []string
	// Formula selects the optional CRN sub-scores; Diagnostic is the
	// diagnostic program's hash, probed when Formula.Diagnostic is set.
	Formula    Formula
	Diagnostic string
	// AggregateOwner is the owner of the corechannel aggregate read by the
	// core node probe (empty: DefaultAggregateOwner).
	AggregateOwner string
	// Tags of the posts (empty: ["mainnet"], the reference's).
	Tags []string
	// Server names this scorer in its measurements (empty: its address).
	Server string
	// PublishScores makes the service publish scores, not only
	// measurements.
	PublishScores bool
	// HTTP sends the probes (nil: a client without cookies or redirects).
	HTTP       *http.Client
	Registerer prometheus.Registerer
	Logger     *slog.Logger

	// lie, in tests, alters a round's measurements before they are
	// signed: a dishonest scorer.
	lie func(*Metrics)
}

// Service probes the network, publishes its measurements and the scores.
type Service struct {
	cfg     Config
	probe   *prober
	dir     *gateway.Directory
	metrics *metrics

	mu        sync.Mutex
	checks    map[string][]AppCheck // program hash → its checks (programs are immutable)
	published time.Time             // end of the last period scored
}

// New returns a scoring service.
func New(cfg Config) (*Service, error) {
	if cfg.Client == nil || cfg.Signer == nil {
		return nil, errors.New("scoring: a core node client and a signer are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Settle <= 0 {
		cfg.Settle = cfg.Interval / 2
	}
	if cfg.Spread <= 0 {
		cfg.Spread = cfg.Interval / 2
	}
	if cfg.AggregateOwner == "" {
		cfg.AggregateOwner = DefaultAggregateOwner
	}
	if len(cfg.Tags) == 0 {
		cfg.Tags = []string{"mainnet"}
	}
	if cfg.Server == "" {
		cfg.Server = cfg.Signer.Address()
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// As given: the API matches addresses exactly.
	cfg.Scorers = slices.Clone(cfg.Scorers)
	s := &Service{cfg: cfg, checks: map[string][]AppCheck{}, metrics: newMetrics(cfg.Registerer)}
	s.dir = gateway.NewDirectory(cfg.Client.BaseURL(), cfg.Interval, nil, nil, cfg.Logger)
	if err := s.dir.AddNodes(cfg.ComputeNodes...); err != nil {
		return nil, err
	}
	s.probe = &prober{http: cfg.HTTP, diagnostic: cfg.Diagnostic, fullCheck: cfg.Formula.FullCheck,
		aggregateOwner: cfg.AggregateOwner, checks: s.appChecks, now: time.Now}
	if !cfg.Formula.Diagnostic {
		s.probe.diagnostic = ""
	}
	return s, nil
}

// Run probes every Interval and publishes, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if err := s.Round(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("scoring round failed", "err", err)
		}
		if s.cfg.PublishScores {
			if _, err := s.PublishScores(ctx, time.Now()); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("publishing scores failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Round probes every node once, each at a random offset inside Spread in
// a random order, and publishes the measurements.
func (s *Service) Round(ctx context.Context) error {
	if err := s.dir.Refresh(ctx); err != nil {
		return fmt.Errorf("scoring: reading the announcements: %w", err)
	}
	progs := map[string][]string{} // node → programs it serves
	for _, h := range s.dir.Programs() {
		for _, base := range s.dir.Upstreams(h) {
			progs[base] = append(progs[base], h)
		}
	}
	for _, up := range s.dir.Nodes() {
		if progs[up.Base()] == nil {
			progs[up.Base()] = []string{}
		}
	}
	var m Metrics
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	wait := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(rand.N(s.cfg.Spread)):
			return true
		}
	}
	for base, hs := range progs { // map order: random
		wg.Go(func() {
			if !wait() {
				return
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			x := s.probe.crn(ctx, base, base, hs)
			s.metrics.observeCRN(x)
			mu.Lock()
			m.CRN = append(m.CRN, x)
			mu.Unlock()
		})
	}
	for _, base := range s.cfg.CoreNodes {
		base = strings.TrimRight(base, "/")
		wg.Go(func() {
			if !wait() {
				return
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			x := s.probe.ccn(ctx, base, base)
			s.metrics.observeCCN(x)
			mu.Lock()
			m.CCN = append(m.CCN, x)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	slices.SortFunc(m.CRN, func(a, b CRNMetrics) int { return strings.Compare(a.NodeID, b.NodeID) })
	slices.SortFunc(m.CCN, func(a, b CCNMetrics) int { return strings.Compare(a.NodeID, b.NodeID) })
	m.Server, m.CCN, m.CRN = s.cfg.Server, orEmpty(m.CCN), orEmpty(m.CRN)
	if s.cfg.lie != nil {
		s.cfg.lie(&m)
	}
	_, err := s.cfg.Client.Post(ctx, s.cfg.Signer, client.PostParams{Type: MetricsPostType, Channel: Channel, Sync: true,
		Content: MetricsPost{Version: "1.0", Tags: s.cfg.Tags, Metrics: m}})
	s.metrics.rounds.WithLabelValues(outcome(err)).Inc()
	if err != nil {
		return fmt.Errorf("scoring: publishing measurements: %w", err)
	}
	return nil
}

func orEmpty[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// appChecks returns the checks of program hash, read once.
func (s *Service) appChecks(ctx context.Context, hash string) []AppCheck {
	s.mu.Lock()
	c, ok := s.checks[hash]
	s.mu.Unlock()
	if ok {
		return c
	}
	msg, err := s.cfg.Client.Message(ctx, hash)
	if err != nil || msg.Message == nil || len(msg.Message.Content) == 0 {
		return nil // not cached: tried again next round
	}
	c, err = ParseChecks(msg.Message.Content)
	if err != nil {
		s.cfg.Logger.Info("program with malformed app checks", "program", hash, "err", err)
	}
	s.mu.Lock()
	s.checks[hash] = c
	s.mu.Unlock()
	return c
}

// PeriodEnd is the end of the latest period whose scores may be computed
// at now: the last multiple of Interval (Unix time) at least Settle ago.
func (s *Service) PeriodEnd(now time.Time) time.Time {
	return now.Add(-s.cfg.Settle).Truncate(s.cfg.Interval)
}

// ScoresFor computes the scores of the period of Window that ends at
// end, from the measurements in the log.
func (s *Service) ScoresFor(ctx context.Context, end time.Time) (*ScoresPost, error) {
	from := end.Add(-s.cfg.Window)
	var ms []Measurement
	for page := 1; ; page++ {
		p, err := s.cfg.Client.Posts(ctx, client.PostFilter{Types: []string{MetricsPostType}, Channels: []string{Channel},
			Addresses: s.cfg.Scorers, StartDate: from, EndDate: end, Page: page, Pagination: 200})
		if err != nil {
			return nil, fmt.Errorf("scoring: reading measurements: %w", err)
		}
		for _, post := range p.Posts {
			var c MetricsPost
			if json.Unmarshal(post.Content, &c) != nil {
				continue // not a measurements post: ignored, as the reference does
			}
			ms = append(ms, Measurement{Sender: post.Address, Metrics: c.Metrics})
		}
		if len(p.Posts) == 0 || page*p.PerPage >= p.Total {
			break
		}
	}
	return &ScoresPost{Version: "1.1", Tags: s.cfg.Tags, Scores: Compute(ms, s.cfg.Formula),
		Period: Period{From: from.UTC().Format(time.RFC3339), To: end.UTC().Format(time.RFC3339)}}, nil
}

// PublishScores publishes the scores of the latest period that may be
// scored at now, unless this service published them already; it returns
// them (nil when there was nothing new).
func (s *Service) PublishScores(ctx context.Context, now time.Time) (*ScoresPost, error) {
	end := s.PeriodEnd(now)
	s.mu.Lock()
	done := !end.After(s.published)
	s.mu.Unlock()
	if done {
		return nil, nil
	}
	sp, err := s.ScoresFor(ctx, end)
	if err != nil {
		return nil, err
	}
	_, err = s.cfg.Client.Post(ctx, s.cfg.Signer, client.PostParams{Type: ScoresPostType, Channel: Channel, Content: sp, Sync: true})
	s.metrics.scorePosts.WithLabelValues(outcome(err)).Inc()
	if err != nil {
		return nil, fmt.Errorf("scoring: publishing scores: %w", err)
	}
	s.metrics.setScores(sp)
	s.mu.Lock()
	s.published = end
	s.mu.Unlock()
	return sp, nil
}

// metrics are the service's Prometheus metrics.
type metrics struct {
	probes     *prometheus.CounterVec
	rounds     *prometheus.CounterVec
	scorePosts *prometheus.CounterVec
	scores     *prometheus.GaugeVec
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		probes:     prom.CounterVec("aleph_scoring_probes_total", "Probes sent by this scorer, by node kind, check and outcome.", "kind", "check", "outcome"),
		rounds:     prom.CounterVec("aleph_scoring_rounds_total", "Probe rounds whose measurements were published (ok) or not (error).", "outcome"),
		scorePosts: prom.CounterVec("aleph_scoring_score_posts_total", "Scores posts published, by outcome.", "outcome"),
		scores: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aleph_scoring_score",
			Help: "Latest total score this node computed, by node kind and node."}, []string{"kind", "node"}),
	}
	if r != nil {
		r.MustRegister(m.probes, m.rounds, m.scorePosts, m.scores)
	}
	return m
}

func (m *metrics) count(kind, check string, ok bool) {
	o := "fail"
	if ok {
		o = "ok"
	}
	m.probes.WithLabelValues(kind, check, o).Inc()
}

func (m *metrics) observeCRN(x CRNMetrics) {
	m.count("crn", "version", x.Version != nil)
	m.count("crn", "base", x.BaseLatency != nil)
	for _, l := range x.AppChecks {
		m.count("crn", "app", l != nil)
	}
}

func (m *metrics) observeCCN(x CCNMetrics) {
	m.count("ccn", "base", x.BaseLatency != nil)
	m.count("ccn", "metrics", x.MetricsLatency != nil)
	m.count("ccn", "aggregate", x.AggregateLatency != nil)
}

func (m *metrics) setScores(sp *ScoresPost) {
	m.scores.Reset()
	for _, n := range sp.Scores.CRN {
		m.scores.WithLabelValues("crn", n.NodeID).Set(n.TotalScore)
	}
	for _, n := range sp.Scores.CCN {
		m.scores.WithLabelValues("ccn", n.NodeID).Set(n.TotalScore)
	}
}
