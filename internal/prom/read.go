package prom

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// CounterValues gathers g and returns the values of the series of the
// counter name whose labels include label=value (every series when label
// is empty), in the order g gathers them.
func CounterValues(g prometheus.Gatherer, name, label, value string) ([]float64, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	var vs []float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if HasLabel(m, label, value) {
				vs = append(vs, m.GetCounter().GetValue())
			}
		}
	}
	return vs, nil
}

// SumCounter is the sum of CounterValues.
func SumCounter(g prometheus.Gatherer, name, label, value string) (float64, error) {
	vs, err := CounterValues(g, name, label, value)
	total := 0.0
	for _, v := range vs {
		total += v
	}
	return total, err
}

// HasLabel reports whether m has the label name=value (always when name
// is empty).
func HasLabel(m *dto.Metric, name, value string) bool {
	if name == "" {
		return true
	}
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
