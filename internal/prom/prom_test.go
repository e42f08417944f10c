package prom

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestConstructors(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := Counter("t_count_total", "A counter.")
	cv := CounterVec("t_by_total", "A counter by kind.", "kind")
	h := Histogram("t_seconds", "A histogram.", []float64{1, 2})
	hv := HistogramVec("t_by_seconds", "A histogram by kind.", []float64{1}, "kind")
	reg.MustRegister(c, cv, h, hv)
	c.Add(2)
	cv.WithLabelValues("a").Inc()
	h.Observe(1.5)
	hv.WithLabelValues("b").Observe(0.5)
	want := `
# HELP t_by_total A counter by kind.
# TYPE t_by_total counter
t_by_total{kind="a"} 1
# HELP t_count_total A counter.
# TYPE t_count_total counter
t_count_total 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "t_count_total", "t_by_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(h); n != 1 {
		t.Fatalf("histogram: %d series, want 1", n)
	}
	if n := testutil.CollectAndCount(hv); n != 1 {
		t.Fatalf("histogram vec: %d series, want 1", n)
	}
}

func TestCounterValues(t *testing.T) {
	reg := prometheus.NewRegistry()
	cv := CounterVec("t_dir_total", "By direction.", "direction")
	reg.MustRegister(cv)
	cv.WithLabelValues("sent").Add(3)
	cv.WithLabelValues("received").Add(4)
	if vs, err := CounterValues(reg, "t_dir_total", "direction", "sent"); err != nil || len(vs) != 1 || vs[0] != 3 {
		t.Fatalf("sent: %v, %v; want [3]", vs, err)
	}
	if sum, err := SumCounter(reg, "t_dir_total", "", ""); err != nil || sum != 7 {
		t.Fatalf("sum of all: %v, %v; want 7", sum, err)
	}
	if sum, err := SumCounter(reg, "t_dir_total", "direction", "SENT"); err != nil || sum != 0 {
		t.Fatalf("labels match exactly: %v, %v; want 0", sum, err)
	}
	if vs, err := CounterValues(reg, "t_absent_total", "", ""); err != nil || len(vs) != 0 {
		t.Fatalf("absent: %v, %v; want none", vs, err)
	}
}
