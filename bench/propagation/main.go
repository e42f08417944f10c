// Command propagation measures how fast a message posted to one core node
// reaches the others over p2p gossip.
//
// It starts an in-process devnet (internal/devnet: N core nodes on
// loopback, embedded SQLite, full mesh), then:
//
//  1. pre-signs rate×duration distinct ETH POST messages — not timed;
//  2. subscribes to the WebSocket feed (/api/ws0/messages) of every node
//     but the first, filtered on the benchmark's channel;
//  3. POSTs the messages to the first node at a fixed rate (sync=false,
//     over keep-alive connections), recording when each request started;
//  4. records, per message and per watching node, when the node pushed it
//     as processed on its feed.
//
// It prints, per node, the p50/p95/p99/max propagation latency (from the
// start of the POST to the first node until the other node's feed pushes
// it as processed) and the messages never seen there within -wait, then
// one "RESULT key=value …" line for scripts. Everything (load generator
// included) runs in one process on the machine's cores: the figures are
// an upper bound of what separate machines would see. It measures; it
// asserts nothing.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/devnet"
	"github.com/goaleph/goaleph/message"
)

type config struct {
	nodes    int
	rate     int
	duration time.Duration
	conns    int
	senders  int
	wait     time.Duration
	channel  string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.nodes, "nodes", 3, "core nodes in the devnet")
	flag.IntVar(&cfg.rate, "rate", 1000, "messages per second posted to the first node")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to post")
	flag.IntVar(&cfg.conns, "c", 64, "concurrent POST connections")
	flag.IntVar(&cfg.senders, "senders", 100, "distinct sender accounts")
	flag.DurationVar(&cfg.wait, "wait", 30*time.Second, "longest wait for the last messages after posting")
	flag.StringVar(&cfg.channel, "channel", "BENCH-PROPAGATION", "channel of the messages")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (nodes included) to this file")
	flag.Parse()
	if cfg.nodes < 2 || cfg.rate <= 0 || cfg.duration <= 0 || cfg.conns <= 0 || cfg.senders <= 0 {
		fmt.Fprintln(os.Stderr, "propagation: need -nodes ≥ 2 and positive -rate, -duration, -c, -senders")
		os.Exit(2)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // as aleph node run and aleph devnet
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "propagation:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(ctx, cfg); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "propagation:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	n := int(float64(cfg.rate) * cfg.duration.Seconds())
	fmt.Printf("signing %d messages…\n", n)
	msgs, err := sign(n, cfg.senders, cfg.channel)
	if err != nil {
		return err
	}
	index := make(map[string]int, n)
	for i, m := range msgs {
		index[m.ItemHash] = i
	}

	nw, err := devnet.Start(ctx, devnet.Config{Nodes: cfg.nodes})
	if err != nil {
		return err
	}
	defer nw.Stop()
	nodes := nw.Nodes()
	fmt.Printf("devnet of %d nodes up; posting %d msg/s to node 0 for %s\n", len(nodes), cfg.rate, cfg.duration)

	sent := make([]atomic.Int64, n) // unix ns at the start of the POST
	seen := make([][]int64, len(nodes))
	var remaining atomic.Int64
	remaining.Store(int64(n * (len(nodes) - 1)))
	allSeen := make(chan struct{})
	wctx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	var wg sync.WaitGroup
	for k := 1; k < len(nodes); k++ {
		seen[k] = make([]int64, n)
		feed, err := client.New(nodes[k].APIURL()).Watch(wctx, client.MessageFilter{Channels: []string{cfg.channel}}, 0)
		if err != nil {
			return err
		}
		wg.Go(func() {
			for m, err := range feed {
				if err != nil {
					return
				}
				now := time.Now().UnixNano()
				if i, ok := index[m.ItemHash]; ok && seen[k][i] == 0 {
					seen[k][i] = now
					if remaining.Add(-1) == 0 {
						close(allSeen)
					}
				}
			}
		})
	}

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.conns, MaxConnsPerHost: cfg.conns}}
	a := client.New(nodes[0].APIURL(), client.WithHTTPClient(hc))
	jobs := make(chan int, cfg.conns)
	var failed atomic.Int64
	var posters sync.WaitGroup
	for range cfg.conns {
		posters.Go(func() {
			for i := range jobs {
				sent[i].Store(time.Now().UnixNano())
				if _, err := a.Submit(ctx, msgs[i], false); err != nil {
					if failed.Add(1) <= 3 {
						fmt.Fprintln(os.Stderr, "post:", err)
					}
				}
			}
		})
	}
	start := time.Now()
	interval := time.Second / time.Duration(cfg.rate)
	late := 0
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		} else if d < -50*time.Millisecond {
			late++
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			close(jobs)
			return ctx.Err()
		}
	}
	close(jobs)
	posters.Wait()
	postSecs := time.Since(start).Seconds()
	select {
	case <-allSeen:
	case <-time.After(cfg.wait):
	case <-ctx.Done():
	}
	cancelWatch()
	wg.Wait()

	fmt.Printf("posted %d messages in %.1f s (%.0f msg/s, %d POST errors, %d sends >50 ms late)\n",
		n, postSecs, float64(n)/postSecs, failed.Load(), late)
	var all []time.Duration
	result := []string{fmt.Sprintf("nodes=%d rate=%d n=%d post_rate=%.0f", len(nodes), cfg.rate, n, float64(n)/postSecs)}
	for k := 1; k < len(nodes); k++ {
		var lat []time.Duration
		missing := 0
		for i := range n {
			if seen[k][i] == 0 || sent[i].Load() == 0 {
				missing++
				continue
			}
			lat = append(lat, time.Duration(seen[k][i]-sent[i].Load()))
		}
		all = append(all, lat...)
		p := percentiles(lat)
		fmt.Printf("node %d: p50 %s  p95 %s  p99 %s  max %s  missing %d\n", k, p[0], p[1], p[2], p[3], missing)
		if missing > 0 {
			explainMissing(ctx, nodes[k], msgs, seen[k])
		}
		result = append(result, fmt.Sprintf("node%d_missing=%d", k, missing))
	}
	p := percentiles(all)
	fmt.Printf("all:    p50 %s  p95 %s  p99 %s  max %s\n", p[0], p[1], p[2], p[3])
	result = append(result, fmt.Sprintf("p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f max_ms=%.1f",
		ms(p[0]), ms(p[1]), ms(p[2]), ms(p[3])))
	fmt.Println("RESULT " + strings.Join(result, " "))
	return nil
}

// explainMissing tells whether messages missing from a node's feed were
// stored there (the feed dropped them: a slow WebSocket subscriber) or
// not (gossip lost them), and prints the node's gossip drop counters.
func explainMissing(ctx context.Context, n *devnet.Node, msgs []*message.Message, seen []int64) {
	c := client.New(n.APIURL())
	stored, absent, checked := 0, 0, 0
	for i, t := range seen {
		if t != 0 || checked == 200 {
			continue
		}
		checked++
		if r, err := c.MessageStatus(ctx, msgs[i].ItemHash); err == nil && r.Status == client.StatusProcessed {
			stored++
		} else {
			absent++
		}
	}
	fmt.Printf("        of %d missing checked: %d processed (not pushed on the feed), %d absent\n", checked, stored, absent)
	mfs, err := n.Core().Registry().Gather()
	if err != nil {
		return
	}
	for _, mf := range mfs {
		if mf.GetName() != "aleph_p2p_gossip_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v > 0 {
				fmt.Printf("        dropped %s: %.0f\n", m.GetLabel()[0].GetValue(), v)
			}
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentiles returns p50, p95, p99 and max (zeros when empty).
func percentiles(d []time.Duration) [4]time.Duration {
	if len(d) == 0 {
		return [4]time.Duration{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return [4]time.Duration{at(0.50), at(0.95), at(0.99), d[len(d)-1]}
}

// sign builds n distinct POST messages from senders accounts, as the SDK
// does (compact inline content, EIP-191 signature).
func sign(n, senders int, channel string) ([]*message.Message, error) {
	accounts := make([]*eth.Account, senders)
	for i := range accounts {
		a, err := eth.NewAccount()
		if err != nil {
			return nil, err
		}
		accounts[i] = a
	}
	msgs := make([]*message.Message, n)
	base := time.Now()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	workers := 4
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				a := accounts[i%senders]
				t := base.Add(time.Duration(i) * time.Millisecond)
				content, _ := json.Marshal(map[string]any{"address": a.Address(), "time": float64(t.UnixMilli()) / 1000,
					"type": "bench", "content": map[string]int{"i": i}})
				m, err := message.NewInline(a, message.TypePost, channel, string(content), t)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				msgs[i] = m
			}
		})
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return nil, err
	}
	return msgs, nil
}
