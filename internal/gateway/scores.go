package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/goaleph/goaleph/client"
)

// Defaults of the score weighting.
const (
	DefaultScoresInterval = time.Minute
	// DefaultScoreThresholdPercent: below it a node gets no traffic. The
	// rewards' multiplier is 0 up to a score of 0.2 (spec network.md §2.4).
	DefaultScoreThresholdPercent = 20
)

// scoresPostType and scoresChannel are where the scorers publish
// (internal/scoring; spec network.md §2.2).
const (
	scoresPostType = "aleph-scoring-scores"
	scoresChannel  = "aleph-scoring"
)

// scoreBook reads the compute nodes' scores from the newest
// "aleph-scoring-scores" post of each trusted sender and sets each
// upstream's weight: the median of the senders' total scores of the node
// (matched by its URL), and no traffic below threshold. A node no sender
// scored keeps the weight 1.
type scoreBook struct {
	dir       *Directory
	core      *client.Client
	senders   []string
	threshold float64
	interval  time.Duration
	metrics   *metrics
	log       *slog.Logger
}

type scoresContent struct {
	Period struct {
		To string `json:"to_date"`
	} `json:"period"`
	Scores struct {
		CRN []struct {
			URL        string  `json:"url"`
			TotalScore float64 `json:"total_score"`
		} `json:"crn"`
	} `json:"scores"`
}

// Run refreshes the scores every interval until ctx ends.
func (b *scoreBook) Run(ctx context.Context) error {
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		if err := b.refresh(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("reading scores failed; the previous ones are kept", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// refresh reads the newest scores post of every sender and applies them.
func (b *scoreBook) refresh(ctx context.Context) error {
	page, err := b.core.Posts(ctx, client.PostFilter{Types: []string{scoresPostType}, Channels: []string{scoresChannel},
		Addresses: b.senders, Pagination: 50})
	if err != nil {
		return err
	}
	type newest struct {
		to, hash string
		c        scoresContent
	}
	latest := map[string]newest{}
	for _, p := range page.Posts {
		var c scoresContent
		if json.Unmarshal(p.Content, &c) != nil {
			continue
		}
		s := strings.ToLower(p.Address)
		old, ok := latest[s]
		if !ok || c.Period.To > old.to || (c.Period.To == old.to && p.ItemHash > old.hash) {
			latest[s] = newest{to: c.Period.To, hash: p.ItemHash, c: c}
		}
	}
	byURL := map[string][]float64{}
	for _, n := range latest {
		for _, e := range n.c.Scores.CRN {
			if e.URL != "" && !math.IsNaN(e.TotalScore) {
				u := strings.TrimRight(e.URL, "/")
				byURL[u] = append(byURL[u], min(max(e.TotalScore, 0), 1))
			}
		}
	}
	scores := map[string]float64{}
	for u, xs := range byURL {
		sort.Float64s(xs)
		n := len(xs)
		scores[u] = xs[n/2]
		if n%2 == 0 {
			scores[u] = (xs[n/2-1] + xs[n/2]) / 2
		}
	}
	b.dir.setScores(scores, b.threshold)
	for _, u := range slices.Sorted(maps.Keys(scores)) {
		b.metrics.upstreamScore.WithLabelValues(u).Set(scores[u])
	}
	return nil
}

// setScores records the nodes' scores (by base URL) and applies them to
// every known upstream; Refresh applies them to the new ones.
func (d *Directory) setScores(scores map[string]float64, threshold float64) {
	d.mu.Lock()
	d.scores, d.threshold = scores, threshold
	pool := slices.Collect(maps.Values(d.pool))
	d.mu.Unlock()
	for _, up := range pool {
		d.applyScore(up)
	}
}

// applyScore sets up's weight from the recorded scores.
func (d *Directory) applyScore(up *Upstream) {
	d.mu.RLock()
	s, ok := d.scores[up.base]
	th := d.threshold
	d.mu.RUnlock()
	if !ok {
		up.weight.Store(0)
		up.lowScore.Store(false)
		return
	}
	up.weight.Store(math.Float64bits(max(s, 1e-6)))
	if low := s < th; up.lowScore.Swap(low) != low && low {
		d.log.Warn("upstream's score is below the threshold: no traffic", "upstream", up.base, "score", s, "threshold", th)
	}
}
