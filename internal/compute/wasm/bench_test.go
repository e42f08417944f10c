package wasm

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
)

// BenchmarkWarmCall is a warm call of the echo program: natively (the
// program's Serve as a Go function, with the CGI environment built and the
// answer parsed as the backend does), as a Go command module (a fresh
// instance per call) and as a Go reactor module (a kept instance). Besides
// the mean, it reports the median and 95th percentile in ms; run it with
// -benchtime=Nx, N ≥ 20.
func BenchmarkWarmCall(b *testing.B) {
	s := &compute.Scope{Type: "http", Method: "POST", Path: "/echo",
		Headers: [][2]string{{"content-type", "application/json"}}, Body: []byte(`{"a":1}`)}
	spec := compute.Spec{ProgramHash: "bench", Timeout: 10 * time.Second}
	b.Run("native", func(b *testing.B) {
		percentiles(b, func() error {
			env := environ(&spec, s)
			kv := make([]string, len(env))
			for i, e := range env {
				kv[i] = e[0] + "=" + e[1]
			}
			var out bytes.Buffer
			wasmtest.Serve(kv, bytes.NewReader(s.Body), &out, io.Discard)
			_, err := parseResponse(out.Bytes())
			return err
		})
	})
	b.Run("command", func(b *testing.B) {
		in := start(b, sharedBackend(b), spec)
		percentiles(b, func() error { _, err := in.Call(context.Background(), s); return err })
	})
	b.Run("reactor", func(b *testing.B) {
		spec := spec
		spec.Code = reactorProg(b)
		in := start(b, sharedBackend(b), spec)
		percentiles(b, func() error { _, err := in.Call(context.Background(), s); return err })
	})
}

// percentiles runs call b.N times and reports the median and the 95th
// percentile of its durations.
func percentiles(b *testing.B, call func() error) {
	b.Helper()
	if err := call(); err != nil { // warm
		b.Fatal(err)
	}
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if err := call(); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	ms := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.95), "p95-ms")
}
