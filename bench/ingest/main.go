// Command ingest measures how fast a running core node ingests and
// processes signed POST messages sent over its HTTP API, and compares that
// with the single-core signature recovery rate of the same machine.
//
// It runs in its own process, apart from the node:
//
//  1. pre-signs n distinct ETH POST messages as the official SDKs build them
//     (inline compact item_content with keys type, address, content, time;
//     item_hash = sha256(item_content); EIP-191 signature over the
//     verification buffer) — not timed;
//  2. recovers the n signatures on one goroutine with the node's verifier
//     (chain.Verify), giving this machine's single-core ecrecover rate;
//  3. POSTs the messages to /api/v0/messages with {"sync": false} over c
//     keep-alive connections, counting 202 answers and errors;
//  4. polls GET /metrics until the node has processed (or rejected) every
//     accepted message, within a bounded wait.
//
// It prints the accept rate, the end-to-end rate (messages processed per
// second from the first send to the last processed), the POST latency
// percentiles, the ecrecover rate and the end-to-end / ecrecover ratio, then
// one "RESULT key=value …" line for scripts (see bench/ingest.sh).
//
// All traffic goes to the URL given, which should be a loopback address.
// It measures; it asserts nothing.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goaleph/goaleph/bench/internal/benchutil"
	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/message"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.n, "n", 20000, "number of messages")
	flag.IntVar(&cfg.c, "c", 64, "concurrent keep-alive connections")
	flag.StringVar(&cfg.url, "url", "http://127.0.0.1:4024", "base URL of the node")
	flag.IntVar(&cfg.senders, "senders", 100, "distinct sender accounts")
	flag.StringVar(&cfg.channel, "channel", "BENCH", "channel of the messages")
	flag.DurationVar(&cfg.wait, "wait", 120*time.Second, "longest wait for processing after the last POST")
	flag.DurationVar(&cfg.poll, "poll", 20*time.Millisecond, "interval between /metrics polls")
	flag.DurationVar(&cfg.reqTimeout, "timeout", 30*time.Second, "timeout of one POST")
	flag.Parse()
	if cfg.n <= 0 || cfg.c <= 0 || cfg.senders <= 0 {
		fmt.Fprintln(os.Stderr, "ingest: -n, -c and -senders must be positive")
		os.Exit(2)
	}
	ctx := context.Background()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

type config struct {
	n, c, senders int
	url, channel  string
	wait, poll    time.Duration
	reqTimeout    time.Duration
}

// signed is one pre-built submission.
type signed struct {
	msg  *message.Message
	body []byte // {"sync":false,"message":{…}}
}

func run(ctx context.Context, cfg config) error {
	client := &http.Client{
		Timeout: cfg.reqTimeout,
		Transport: &http.Transport{
			MaxIdleConns:        cfg.c + 4,
			MaxIdleConnsPerHost: cfg.c + 4,
			MaxConnsPerHost:     cfg.c + 4, // + the metrics poller
			DisableCompression:  true,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	base := strings.TrimRight(cfg.url, "/")
	before, err := scrape(ctx, client, base)
	if err != nil {
		return fmt.Errorf("node not reachable at %s: %w", base, err)
	}

	fmt.Printf("signing %d messages from %d senders on %d goroutines…\n", cfg.n, cfg.senders, runtime.GOMAXPROCS(0))
	t := time.Now()
	msgs, err := build(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("  signed in %.2f s (not part of any figure)\n", time.Since(t).Seconds())

	recRate, err := ecrecoverRate(msgs)
	if err != nil {
		return err
	}
	fmt.Printf("ecrecover (chain.Verify, 1 goroutine): %.0f signatures/s\n", recRate)

	res := send(ctx, cfg, client, base, msgs, before)
	if res.err != nil {
		return res.err
	}
	report(cfg, res, recRate)
	if res.processed+res.rejected < int64(res.accepted) {
		return fmt.Errorf("only %d of %d accepted messages were processed or rejected within %s",
			res.processed+res.rejected, res.accepted, cfg.wait)
	}
	return nil
}

type postBody struct {
	Body  string `json:"body"`
	Run   string `json:"run"`
	Index int    `json:"index"`
}

// build signs cfg.n distinct messages on all CPUs.
func build(cfg config) ([]signed, error) {
	accts := make([]*eth.Account, cfg.senders)
	for i := range accts {
		a, err := eth.NewAccount()
		if err != nil {
			return nil, err
		}
		accts[i] = a
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	t0 := float64(time.Now().UnixMicro()) / 1e6
	msgs := make([]signed, cfg.n)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < cfg.n; i += workers {
				a := accts[i%len(accts)]
				ct := t0 + float64(i)*1e-6 // distinct content times
				item, err := json.Marshal(benchutil.PostContent{
					Type:    "bench",
					Address: a.Address(),
					Content: postBody{Body: "goaleph ingest benchmark message", Run: runID, Index: i},
					Time:    ct,
				})
				if err != nil {
					errs[w] = err
					return
				}
				m := &message.Message{
					Type:        message.TypePost,
					ItemType:    message.ItemInline,
					ItemContent: string(item),
					ItemHash:    message.InlineHash(string(item)),
					Time:        ct + 0.000123, // the SDK stamps the envelope just after the content
					Channel:     cfg.channel,
				}
				if err := message.Sign(a, m); err != nil {
					errs[w] = err
					return
				}
				env, err := m.MarshalJSON()
				if err != nil {
					errs[w] = err
					return
				}
				body := make([]byte, 0, len(env)+32)
				body = append(body, `{"sync":false,"message":`...)
				body = append(body, env...)
				body = append(body, '}')
				msgs[i] = signed{msg: m, body: body}
			}
		})
	}
	wg.Wait()
	return msgs, errors.Join(errs...)
}

// ecrecoverRate verifies every signature on the calling goroutine, as one
// node verify worker does, and returns signatures per second.
func ecrecoverRate(msgs []signed) (float64, error) {
	bufs := make([][]byte, len(msgs))
	for i, s := range msgs {
		bufs[i] = s.msg.VerificationBuffer()
	}
	runtime.GC()
	start := time.Now()
	for i, s := range msgs {
		if err := chain.Verify(s.msg.Chain, s.msg.Sender, bufs[i], s.msg.Signature); err != nil {
			return 0, fmt.Errorf("message %d does not verify: %w", i, err)
		}
	}
	return float64(len(msgs)) / time.Since(start).Seconds(), nil
}

type result struct {
	err        error
	accepted   int
	statuses   map[string]int // non-202 answers and transport errors
	latencies  []time.Duration
	acceptTime time.Duration // first send → last 202
	e2eTime    time.Duration // first send → all processed
	processed  int64
	rejected   int64
	nodeCPU    float64 // node process CPU seconds during the run
	clientCPU  float64 // this process's CPU seconds while sending and waiting
	maxPending float64
	progress   []sample
	machineCPU float64     // CPU seconds used by every process on the machine
	pipeline   metricsSnap // node metrics deltas over the run
}

type sample struct {
	at        time.Duration
	processed int64
}

// send posts every message with cfg.c workers while a poller follows the
// node's processed counter, and returns when every accepted message is
// processed or rejected, or the wait bound passes.
func send(ctx context.Context, cfg config, client *http.Client, base string, msgs []signed, before metricsSnap) result {
	var (
		next      atomic.Int64
		accepted  atomic.Int64
		mu        sync.Mutex
		statuses  = map[string]int{}
		lats      = make([]time.Duration, len(msgs))
		lastOK    atomic.Int64 // ns since start of the last 202
		wg        sync.WaitGroup
		postsDone = make(chan struct{})
		target    atomic.Int64
	)
	target.Store(int64(len(msgs)))
	cpu0 := benchutil.OwnCPU()
	busy0, _ := benchutil.MachineBusy()
	start := time.Now()

	// Poller: follows processing from the first send.
	type pollOut struct {
		end        time.Duration
		last       metricsSnap
		reached    bool
		maxPending float64
		progress   []sample
		err        error
	}
	pollCh := make(chan pollOut, 1)
	go func(postsDone <-chan struct{}) {
		var out pollOut
		var deadline time.Time
		tick := time.NewTicker(cfg.poll)
		defer tick.Stop()
		lastProgress := time.Duration(-1)
		for {
			select {
			case <-postsDone:
				postsDone = nil
				deadline = time.Now().Add(cfg.wait)
				continue
			case <-tick.C:
			}
			snap, err := scrape(ctx, client, base)
			now := time.Since(start)
			if err != nil {
				out.err = err
			} else {
				out.last = snap
				out.maxPending = max(out.maxPending, snap.pending)
				done := int64(snap.processed-before.processed) + int64(snap.rejected-before.rejected)
				if now-lastProgress >= 250*time.Millisecond {
					out.progress = append(out.progress, sample{now, done})
					lastProgress = now
				}
				if postsDone == nil && done >= target.Load() {
					out.end, out.reached = now, true
					out.progress = append(out.progress, sample{now, done})
					pollCh <- out
					return
				}
			}
			if postsDone == nil && time.Now().After(deadline) {
				out.end = now
				pollCh <- out
				return
			}
		}
	}(postsDone)

	for range cfg.c {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(msgs) {
					return
				}
				t := time.Now()
				code, err := post(ctx, client, base, msgs[i].body)
				lats[i] = time.Since(t)
				if err == nil && code == http.StatusAccepted {
					accepted.Add(1)
					for now := int64(time.Since(start)); ; {
						last := lastOK.Load()
						if now <= last || lastOK.CompareAndSwap(last, now) {
							break
						}
					}
					continue
				}
				key := strconv.Itoa(code)
				if err != nil {
					key = "error: " + err.Error()
				}
				mu.Lock()
				statuses[key]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	target.Store(accepted.Load())
	close(postsDone)
	po := <-pollCh
	cpu1 := benchutil.OwnCPU()
	busy1, _ := benchutil.MachineBusy()

	r := result{
		accepted:   int(accepted.Load()),
		statuses:   statuses,
		latencies:  lats,
		acceptTime: time.Duration(lastOK.Load()),
		e2eTime:    po.end,
		processed:  int64(po.last.processed - before.processed),
		rejected:   int64(po.last.rejected - before.rejected),
		nodeCPU:    po.last.cpu - before.cpu,
		clientCPU:  cpu1 - cpu0,
		maxPending: po.maxPending,
		progress:   po.progress,
		machineCPU: busy1 - busy0,
		pipeline: metricsSnap{
			applySeconds: po.last.applySeconds - before.applySeconds,
			applyTxs:     po.last.applyTxs - before.applyTxs,
		},
	}
	if !po.reached && po.err != nil {
		r.err = fmt.Errorf("polling /metrics: %w", po.err)
	}
	return r
}

func post(ctx context.Context, client *http.Client, base string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v0/messages", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	// Drain so the connection is reused.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// metricsSnap holds the node metrics the benchmark follows.
type metricsSnap struct {
	processed float64 // sum of aleph_messages_processed_total
	rejected  float64 // sum of aleph_messages_rejected_total
	pending   float64 // aleph_pending_messages
	cpu       float64 // process_cpu_seconds_total
	// Pipeline histograms: time spent in apply transactions, number of
	// apply and ingest transactions.
	applySeconds, applyTxs float64
}

func scrape(ctx context.Context, client *http.Client, base string) (metricsSnap, error) {
	var s metricsSnap
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return s, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return s, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := splitSample(line)
		if !ok {
			continue
		}
		switch name {
		case "aleph_messages_processed_total":
			s.processed += value
		case "aleph_messages_rejected_total":
			s.rejected += value
		case "aleph_pending_messages":
			s.pending = value
		case "process_cpu_seconds_total":
			s.cpu = value
		case "aleph_apply_batch_seconds_sum":
			s.applySeconds = value
		case "aleph_apply_batch_seconds_count":
			s.applyTxs = value
		}
	}
	return s, sc.Err()
}

// splitSample parses a Prometheus text-format sample line into its metric
// name (labels dropped) and value.
func splitSample(line string) (string, float64, bool) {
	sp := strings.LastIndexByte(line, ' ')
	if sp < 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(line[sp+1:], 64)
	if err != nil {
		return "", 0, false
	}
	name := line[:sp]
	if i := strings.IndexAny(name, "{ "); i >= 0 {
		name = name[:i]
	}
	return name, v, true
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return sorted[i]
}

func report(cfg config, r result, recRate float64) {
	lats := append([]time.Duration(nil), r.latencies...)
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	acceptRate := float64(r.accepted) / r.acceptTime.Seconds()
	done := r.processed + r.rejected
	e2eRate := float64(done) / r.e2eTime.Seconds()
	errs := len(r.latencies) - r.accepted

	fmt.Printf("\nprogress (s since first send → messages processed or rejected):")
	for _, s := range r.progress {
		fmt.Printf(" %.2f→%d", s.at.Seconds(), s.processed)
	}
	fmt.Println()
	fmt.Printf("\n%-34s %d (%d non-202/errors)\n", "messages sent / accepted (202)", len(r.latencies), errs)
	for k, v := range r.statuses {
		fmt.Printf("  %-32s %d\n", k, v)
	}
	fmt.Printf("%-34s %d processed, %d rejected\n", "processing outcome", r.processed, r.rejected)
	fmt.Printf("%-34s %.0f msg/s (%.2f s)\n", "accept rate", acceptRate, r.acceptTime.Seconds())
	fmt.Printf("%-34s %.0f msg/s (%.2f s)\n", "end-to-end rate", e2eRate, r.e2eTime.Seconds())
	fmt.Printf("%-34s p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", "POST latency",
		ms(percentile(lats, .50)), ms(percentile(lats, .90)), ms(percentile(lats, .99)), ms(lats[len(lats)-1]))
	fmt.Printf("%-34s %.0f sig/s\n", "ecrecover, 1 core", recRate)
	fmt.Printf("%-34s %.2f\n", "end-to-end / ecrecover", e2eRate/recRate)
	fmt.Printf("%-34s %.2f s (%.0f µs/message)\n", "node CPU", r.nodeCPU, 1e6*r.nodeCPU/float64(max(done, 1)))
	fmt.Printf("%-34s %.2f s (%.0f µs/message)\n", "client CPU (this process)", r.clientCPU, 1e6*r.clientCPU/float64(len(r.latencies)))
	fmt.Printf("%-34s %.0f\n", "max pending seen", r.maxPending)
	pl := r.pipeline
	fmt.Printf("%-34s %.0f%% of the run in apply transactions; %.0f apply txs (%.1f msg/tx)", "node pipeline",
		100*pl.applySeconds/r.e2eTime.Seconds(), pl.applyTxs, float64(done)/max(pl.applyTxs, 1))
	fmt.Println()
	others := max(r.machineCPU-r.nodeCPU-r.clientCPU, 0)
	fmt.Printf("%-34s %.2f s of %d CPUs × %.2f s (others: %.2f CPUs on average)\n", "machine CPU busy",
		r.machineCPU, runtime.NumCPU(), r.e2eTime.Seconds(), others/r.e2eTime.Seconds())

	fmt.Printf("RESULT n=%d c=%d accepted=%d errors=%d processed=%d rejected=%d accept_rate=%.0f e2e_rate=%.0f "+
		"p50_ms=%.2f p99_ms=%.2f ecrecover_rate=%.0f ratio=%.3f node_cpu_us=%.0f client_cpu_us=%.0f other_cpus=%.2f applier_busy=%.2f\n",
		len(r.latencies), cfg.c, r.accepted, errs, r.processed, r.rejected, acceptRate, e2eRate,
		ms(percentile(lats, .50)), ms(percentile(lats, .99)), recRate, e2eRate/recRate,
		1e6*r.nodeCPU/float64(max(done, 1)), 1e6*r.clientCPU/float64(len(r.latencies)), others/r.e2eTime.Seconds(), pl.applySeconds/r.e2eTime.Seconds())
}
