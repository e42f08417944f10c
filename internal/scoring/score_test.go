package scoring

import (
	"errors"
	"testing"
)

func crnRound(url string, base *float64, app *float64, version string) Metrics {
	m := CRNMetrics{NodeID: url, URL: url, BaseLatency: base, AppChecks: map[string]*float64{"p": app}}
	if version != "" {
		m.Version = &version
	}
	return Metrics{CRN: []CRNMetrics{m}}
}

// TestComputeMedian: one liar of three cannot lift a failing node nor sink
// a good one; a mean would have lifted it.
func TestComputeMedian(t *testing.T) {
	fast := 0.01
	var ms []Measurement
	for _, s := range []string{"0xA", "0xB"} {
		ms = append(ms, Measurement{Sender: s, Metrics: crnRound("bad", &fast, nil, "1")},
			Measurement{Sender: s, Metrics: crnRound("good", &fast, &fast, "1")})
	}
	ms = append(ms, Measurement{Sender: "0xC", Metrics: crnRound("bad", &fast, &fast, "1")},
		Measurement{Sender: "0xC", Metrics: crnRound("good", nil, nil, "")})
	sc := Compute(ms, Formula{})
	if len(sc.CRN) != 2 || sc.CRN[0].NodeID != "bad" || sc.CRN[1].NodeID != "good" {
		t.Fatalf("scores %+v", sc.CRN)
	}
	if s := sc.CRN[0].TotalScore; s != 0 {
		t.Errorf("bad node %v, want 0", s)
	}
	if s := sc.CRN[1].TotalScore; s < 0.99 {
		t.Errorf("good node %v, want about 1", s)
	}
	// Order does not matter.
	rev := make([]Measurement, len(ms))
	for i := range ms {
		rev[len(ms)-1-i] = ms[i]
	}
	if a, b := Compute(rev, Formula{}), sc; a.CRN[1].TotalScore != b.CRN[1].TotalScore || a.CRN[0].URL != b.CRN[0].URL {
		t.Errorf("order changes the scores: %+v %+v", a, b)
	}
}

func TestParseChecks(t *testing.T) {
	for _, tc := range []struct {
		content string
		n       int
		bad     bool
	}{
		{`{"metadata":null}`, 0, false},
		{`{"metadata":{"aleph_checks":[{"path":"/x"}]}}`, 1, false},
		{`{"metadata":{"aleph_checks":[{"path":"x"}]}}`, 0, true},
		{`{"metadata":{"aleph_checks":[{"path":"/x","method":"BREW"}]}}`, 0, true},
		{`{"metadata":{"aleph_checks":[{"path":"/x","status":999}]}}`, 0, true},
		{`{"metadata":{"aleph_checks":{"path":"/x"}}}`, 0, true},
		{`[`, 0, true},
	} {
		cs, err := ParseChecks([]byte(tc.content))
		if tc.bad != errors.Is(err, ErrBadChecks) || len(cs) != tc.n {
			t.Errorf("%s: %v %v", tc.content, cs, err)
		}
		if len(cs) == 1 && (cs[0].Method != "GET" || cs[0].Status != 200) {
			t.Errorf("defaults: %+v", cs[0])
		}
	}
}
