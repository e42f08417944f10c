package scoring

import (
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
)

// missingLatency is what a failed probe counts as in the percentiles
// (the reference's 100 s).
const missingLatency = 100.0

// Formula are the parts of the CRN formula that depend on what the
// network's compute nodes can be probed for. Every scorer must use the
// same, or their scores differ.
type Formula struct {
	// Diagnostic counts the diagnostic program's latency (s25 ÷ 2.5).
	Diagnostic bool
	// FullCheck counts /status/check/fastapi (s25 ÷ 4).
	FullCheck bool
}

// Measurement is one scorer's measurements post, as read from the log.
type Measurement struct {
	// Sender is the scorer's address.
	Sender  string
	Metrics Metrics
}

// Compute returns the scores of every node measured in ms: for each
// scorer apart, the reference's formulas (spec network.md §2.2) over its
// measurements; then for each node and each figure the median over the
// scorers that measured it. A scorer that lies about a node moves the
// median only within the range of the honest scorers' figures as long as
// the liars are fewer than half. Deterministic: it depends on ms only,
// whatever their order.
func Compute(ms []Measurement, f Formula) Scores {
	crn := map[string]map[string][]CRNMetrics{} // scorer → node → measurements
	ccn := map[string]map[string][]CCNMetrics{}
	for _, m := range ms {
		s := strings.ToLower(m.Sender)
		for _, x := range m.Metrics.CRN {
			if crn[s] == nil {
				crn[s] = map[string][]CRNMetrics{}
			}
			crn[s][x.NodeID] = append(crn[s][x.NodeID], x)
		}
		for _, x := range m.Metrics.CCN {
			if ccn[s] == nil {
				ccn[s] = map[string][]CCNMetrics{}
			}
			ccn[s][x.NodeID] = append(ccn[s][x.NodeID], x)
		}
	}
	return Scores{
		CRN: medians(perScorer(crn, func(xs []CRNMetrics) (NodeScore, *int) { return crnScore(xs, f) })),
		CCN: medians(perScorer(ccn, ccnScore)),
	}
}

// perScorer scores every node of every scorer; it returns node →
// (scorer-sorted) scores.
func perScorer[M any](by map[string]map[string][]M, score func([]M) (NodeScore, *int)) map[string][]NodeScore {
	out := map[string][]NodeScore{}
	for _, scorer := range slices.Sorted(maps.Keys(by)) {
		nodes := by[scorer]
		asns := map[string]*int{}
		var ns []NodeScore
		for _, id := range slices.Sorted(maps.Keys(nodes)) {
			s, asn := score(nodes[id])
			s.NodeID = id
			asns[id] = asn
			ns = append(ns, s)
		}
		// Decentralization (1 - k/N)², k the nodes of this one's ASN,
		// itself included; a node of unknown ASN shares it with none.
		for i := range ns {
			k := 0
			for _, a := range asns {
				if a != nil && asns[ns[i].NodeID] != nil && *a == *asns[ns[i].NodeID] {
					k++
				}
			}
			k = max(k, 1)
			d := 1 - float64(k)/float64(len(ns))
			ns[i].Decentralization = d * d
			ns[i].Measurements["total_nodes"] = float64(len(ns))
			ns[i].Measurements["nodes_with_identical_asn"] = float64(k)
			out[ns[i].NodeID] = append(out[ns[i].NodeID], ns[i])
		}
	}
	return out
}

// medians reduces each node's per-scorer scores to their medians, sorted
// by node id.
func medians(by map[string][]NodeScore) []NodeScore {
	out := []NodeScore{}
	for _, id := range slices.Sorted(maps.Keys(by)) {
		ss := by[id]
		med := func(get func(NodeScore) float64) float64 {
			xs := make([]float64, len(ss))
			for i, s := range ss {
				xs[i] = get(s)
			}
			return median(xs)
		}
		n := NodeScore{NodeID: id, Measurements: map[string]float64{}}
		n.URL = majorityURL(ss)
		n.TotalScore = med(func(s NodeScore) float64 { return s.TotalScore })
		n.Performance = med(func(s NodeScore) float64 { return s.Performance })
		n.Version = med(func(s NodeScore) float64 { return s.Version })
		n.Decentralization = med(func(s NodeScore) float64 { return s.Decentralization })
		keys := map[string]bool{}
		for _, s := range ss {
			for k := range s.Measurements {
				keys[k] = true
			}
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			n.Measurements[k] = med(func(s NodeScore) float64 { return s.Measurements[k] })
		}
		n.Measurements["scorers"] = float64(len(ss))
		out = append(out, n)
	}
	return out
}

// majorityURL is the URL most scorers reached the node at (the smallest
// of a tie).
func majorityURL(ss []NodeScore) string {
	count := map[string]int{}
	for _, s := range ss {
		count[s.URL]++
	}
	best := ""
	for _, u := range slices.Sorted(maps.Keys(count)) {
		if count[u] > count[best] || best == "" {
			best = u
		}
	}
	return best
}

// median of xs: the middle value, or the mean of the two middle ones.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// percentile is PostgreSQL's percentile_disc(q) of xs with nil counted as
// missingLatency: the first value whose cumulative share reaches q.
func percentile(xs []*float64, q float64) float64 {
	vs := make([]float64, len(xs))
	for i, x := range xs {
		vs[i] = missingLatency
		if x != nil {
			vs[i] = *x
		}
	}
	sort.Float64s(vs)
	i := max(int(math.Ceil(q*float64(len(vs))))-1, 0)
	return vs[i]
}

// sub is the sub-score s(q, d) = max(0, 1 - P_q/d).
func sub(xs []*float64, q, d float64) float64 {
	return max(0, 1-percentile(xs, q)/d)
}

// geomean is the k-th root of the product of k factors.
func geomean(fs []float64) float64 {
	p := 1.0
	for _, f := range fs {
		p *= f
	}
	return math.Pow(p, 1/float64(len(fs)))
}

// versionScore is the reference's version score without its release
// table (goaleph nodes all count as "latest" when they report a
// version): 0 without measurements or when more than a fifth as many
// lack a version as have one, otherwise the share that has one.
func versionScore(versions []*string) float64 {
	present, missing := 0, 0
	for _, v := range versions {
		if v == nil || *v == "" {
			missing++
		} else {
			present++
		}
	}
	if present == 0 || float64(missing) > float64(present)/5 {
		return 0
	}
	return float64(present) / float64(present+missing)
}

// crnScore is one scorer's score of one compute node: the geometric mean
// of s25(base,2), s95(base,2), the enabled diagnostic and full-check
// sub-scores, and the app-check sub-score, the worst over the programs
// of s25(app latency, 4) with a failed check counted as missing.
func crnScore(xs []CRNMetrics, f Formula) (NodeScore, *int) {
	col := func(get func(CRNMetrics) *float64) []*float64 { return column(xs, get) }
	base := col(func(m CRNMetrics) *float64 { return m.BaseLatency })
	ms := map[string]float64{
		"base_latency_score_p25": sub(base, 0.25, 2),
		"base_latency_score_p95": sub(base, 0.95, 2),
	}
	fs := []float64{ms["base_latency_score_p25"], ms["base_latency_score_p95"]}
	if f.Diagnostic {
		ms["diagnostic_vm_latency_score_p25"] = sub(col(func(m CRNMetrics) *float64 { return m.DiagnosticVMLatency }), 0.25, 2.5)
		fs = append(fs, ms["diagnostic_vm_latency_score_p25"])
	}
	if f.FullCheck {
		ms["full_check_latency_score_p25"] = sub(col(func(m CRNMetrics) *float64 { return m.FullCheckLatency }), 0.25, 4)
		fs = append(fs, ms["full_check_latency_score_p25"])
	}
	// Every program checked in the window: a round that did not check it
	// (the node did not serve it then) does not count against the node.
	progs := map[string][]*float64{}
	for _, m := range xs {
		for h, l := range m.AppChecks {
			progs[h] = append(progs[h], l)
		}
	}
	if len(progs) > 0 {
		app := 1.0
		for _, h := range slices.Sorted(maps.Keys(progs)) {
			app = min(app, sub(progs[h], 0.25, 4))
		}
		ms["app_checks_score_p25"] = app
		ms["app_checks_programs"] = float64(len(progs))
		fs = append(fs, app)
	}
	versions := column(xs, func(m CRNMetrics) *string { return m.Version })
	s := score(fs, versions, ms, len(xs))
	s.URL = lastURL(xs, func(m CRNMetrics) (float64, string) { return m.MeasuredAt, m.URL })
	return s, minASN(xs, func(m CRNMetrics) *int { return m.ASN })
}

// ccnScore is one scorer's score of one core node: the geometric mean of
// s25 and s80 of the base (÷2, ÷4), metrics (÷2.5, ÷5) and aggregate
// (÷4, ÷8) latencies.
func ccnScore(xs []CCNMetrics) (NodeScore, *int) {
	col := func(get func(CCNMetrics) *float64) []*float64 { return column(xs, get) }
	base := col(func(m CCNMetrics) *float64 { return m.BaseLatency })
	met := col(func(m CCNMetrics) *float64 { return m.MetricsLatency })
	agg := col(func(m CCNMetrics) *float64 { return m.AggregateLatency })
	ms := map[string]float64{
		"base_latency_score_p25":      sub(base, 0.25, 2),
		"base_latency_score_p80":      sub(base, 0.80, 4),
		"metrics_latency_score_p25":   sub(met, 0.25, 2.5),
		"metrics_latency_score_p80":   sub(met, 0.80, 5),
		"aggregate_latency_score_p25": sub(agg, 0.25, 4),
		"aggregate_latency_score_p80": sub(agg, 0.80, 8),
	}
	fs := []float64{ms["base_latency_score_p25"], ms["base_latency_score_p80"], ms["metrics_latency_score_p25"],
		ms["metrics_latency_score_p80"], ms["aggregate_latency_score_p25"], ms["aggregate_latency_score_p80"]}
	versions := column(xs, func(m CCNMetrics) *string { return m.Version })
	s := score(fs, versions, ms, len(xs))
	s.URL = lastURL(xs, func(m CCNMetrics) (float64, string) { return m.MeasuredAt, m.URL })
	return s, minASN(xs, func(m CCNMetrics) *int { return m.ASN })
}

// score assembles a node's score: total = sqrt(performance × version).
func score(fs []float64, versions []*string, ms map[string]float64, n int) NodeScore {
	perf := geomean(fs)
	v := versionScore(versions)
	ms["measurements"] = float64(n)
	return NodeScore{Performance: perf, Version: v, TotalScore: math.Sqrt(perf * v), Measurements: ms}
}

// minASN is the smallest ASN reported among xs (nil: none), whatever
// their order.
func minASN[M any](xs []M, get func(M) *int) *int {
	var a *int
	for _, x := range xs {
		if v := get(x); v != nil && (a == nil || *v < *a) {
			a = v
		}
	}
	return a
}

// lastURL is the URL of the latest of xs (the smallest of a tie).
func lastURL[M any](xs []M, get func(M) (float64, string)) string {
	bt, bu := 0.0, ""
	for i, x := range xs {
		t, u := get(x)
		if i == 0 || t > bt || (t == bt && u < bu) {
			bt, bu = t, u
		}
	}
	return bu
}

// column is one field of every measurement of xs.
func column[M, V any](xs []M, get func(M) V) []V {
	out := make([]V, len(xs))
	for i := range xs {
		out[i] = get(xs[i])
	}
	return out
}
