// Command coldstart measures how fast a program on the compute node answers
// its first request (cold start) and its next ones (warm), on this machine.
//
// By default (-level node) it measures through the node, as a client sees
// it: it starts in this process a one-node devnet core and a compute node
// (CRN) on loopback HTTP with the wasm and sandbox backends, publishes the
// runtimes (the WASM runtime marker, and the Debian image of
// runtimes/debian-12-python, built once and cached), and for each subject
// times, with net/http/httptrace, from sending the request to the first
// byte of the response:
//
//   - first runtime: the first program of a backend on the node, which also
//     downloads (and for the sandbox, verifies and unpacks) the runtime;
//     reported once, apart from the cold figures;
//   - cold: a program the node has never seen (new code, new PROGRAM
//     message each run): the message fetch, the code download and
//     verification, the backend's start (for wasm, compiling the module),
//     the first answer; the runtime is already on the node;
//   - cold, known: the same program again after its owner stopped its
//     execution (POST /control/machine/{hash}/stop): the message fetched
//     and its refs resolved again, the code from the node's verified
//     cache, the backend's start (wasm: the module compiled in memory),
//     the first answer;
//   - warm: the same program running;
//   - direct: the same program without the node. For the sandbox
//     executable, the same static server run on the host and called over
//     HTTP the same way. For wasm, "wazero": an instance of the wasm
//     backend called in-process (the module instantiated and run by
//     wazero per request, as the node does, without HTTP or the node); and
//     "native": the program's handler as a plain Go function. warm −
//     direct is what the node adds (for wasm, warm − wazero);
//   - throughput: requests/s of -c concurrent keep-alive clients on the
//     warm program for -d, with the errors counted, and the same on direct.
//
// With -level backend it measures the backends directly, without the node
// (Prepare, Start, Ready and Call on compute.Backend; see backend.go): cold
// with the module compiled or not, warm, native, throughput. Those figures
// explain where the node level's time goes.
//
// Subjects: wasm (a Go WASI module, CGI-style), wasm-tiny (a hand-written
// module with a constant answer: the backend's own cost), wasm-reactor (the
// Go module as a reactor, its instances kept between requests; node level
// only), sandbox (a static Go HTTP server on the Debian runtime, under
// bubblewrap) and asgi (a FastAPI app on the Debian runtime; node level
// only, no direct figure); microvm (the static Go server in a QEMU micro
// VM; backend level only, and only when named: boot cold, snapshot-restore
// cold, warm; see microvm.go).
// Without bwrap the sandbox subjects are left out, with a message.
//
// Latencies are p50/p95 (nearest rank) over -n runs (at least 20). It
// prints the figures, a table, and one "RESULT key=value …" line per
// subject. It measures; it asserts nothing.
//
//	go run ./bench/coldstart                          # node level, every subject
//	go run ./bench/coldstart -backend wasm,sandbox -d 2s
//	go run ./bench/coldstart -level backend -backend wasm
//	go run ./bench/coldstart -level backend -backend microvm -n 20 -d 2s
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	level := flag.String("level", "node", `"node": through a compute node over HTTP; "backend": the backends called directly`)
	n := flag.Int("n", 20, "runs per cold measurement (at least 20)")
	warmN := flag.Int("warm", 200, "runs of the warm and direct measurements")
	conc := flag.Int("c", 100, "concurrent clients for the throughput")
	dur := flag.Duration("d", 5*time.Second, "duration of each throughput measurement")
	only := flag.String("backend", "", "comma-separated subjects to measure (default all but microvm): wasm, wasm-tiny, wasm-reactor, sandbox, asgi; microvm (-level backend only)")
	verbose := flag.Bool("v", false, "node level: print the core and compute nodes' logs")
	flag.Parse()
	if *n < 20 {
		*n = 20
	}
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sel := map[string]bool{}
	for s := range strings.SplitSeq(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			sel[s] = true
		}
	}
	var err error
	switch *level {
	case "node":
		err = nodeLevel(ctx, nodeOpts{only: sel, n: *n, warmN: *warmN, conc: *conc, dur: *dur, verbose: *verbose})
	case "backend":
		err = backendLevel(ctx, sel, *n, *warmN, *conc, *dur)
	default:
		err = fmt.Errorf("-level %q: want node or backend", *level)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// tput is the outcome of a throughput measurement.
type tput struct {
	rps    float64 // successful calls per second
	errors int64   // failed calls
	first  error   // the first failure
}

// throughput runs call from conc goroutines for d. A goroutine whose call
// fails counts the error and goes on.
func throughput(call func() error, conc int, d time.Duration) tput {
	var count, errs atomic.Int64
	var firstMu sync.Mutex
	var first error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t0 := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := call(); err != nil {
					errs.Add(1)
					firstMu.Lock()
					if first == nil {
						first = err
					}
					firstMu.Unlock()
					continue
				}
				count.Add(1)
			}
		})
	}
	time.Sleep(d)
	close(stop)
	wg.Wait()
	return tput{rps: float64(count.Load()) / time.Since(t0).Seconds(), errors: errs.Load(), first: first}
}

func report(subject, what string, ds []time.Duration) {
	fmt.Printf("%s: %-26s p50 %8s ms  p95 %8s ms  (%d runs)\n", subject, what, ms(pct(ds, 50)), ms(pct(ds, 95)), len(ds))
}

// pct is the p-th percentile of ds (nearest rank); 0 for none.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return s[max(i, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.4f", float64(d)/1e6) }
