// Command abuse replays the attacks of a table of abusive requests against a
// core node and prints what each cost the node: data dir size, resident
// memory (VmRSS, and its peak sampled every 50 ms), open socket fds and the
// HTTP statuses seen, before and after each row, then a summary with a
// verdict against the acceptance bound of each row.
//
// Rows:
//
//  1. POSTs to /api/v0/messages with a huge sender and a zero signature;
//  2. a large JSON array to /api/v0/storage/add_json, once, then several at once;
//  3. add_file with two "file" parts (large, then small), no metadata;
//  4. a large anonymous /api/v0/ipfs/add_file;
//  5. connections sending a POST body one byte per 3 s, and idle keep-alives,
//     while a well-behaved client polls /api/v0/version every 100 ms;
//  6. many websockets on /api/ws0/messages?history=50, then closed;
//  7. posts.json with thousands of addresses or tags, pagination 0 and huge;
//  8. envelope details: string time, huge unknown chain, lone surrogate,
//     duplicate keys.
//
// By default it builds ./cmd/aleph (run it from the repository root) and
// starts `aleph node run --no-p2p` on a random 127.0.0.1 port with a fresh
// data dir, one node per row so that every row starts from the same state;
// -url with -pid and -data-dir attaches to a running node instead. All
// traffic goes to 127.0.0.1. Every loop is bounded; the child node is
// stopped at the end and on Ctrl-C. It measures; it exits 0 even when a
// verdict is FAIL.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// config holds the flags.
type config struct {
	aleph, url, dataDir string
	pid                 int
	rows                string
	quick, json         bool
	nodeArgs            string

	r1N, r1Sender  int
	r2Bytes, r2Par int
	r3Big          int
	r4Bytes        int
	anonLimit      int
	r5Slow, r5Idle int
	r5Wait         time.Duration
	r5Quiet        time.Duration
	r6N            int
	r6After        time.Duration
	r6Release      time.Duration
	r7N            int
	r7Posts        int
	r6History      int
	r6Profile      string
	r8Chain        int
	rowTimeout     time.Duration
	wsMiBPerSocket float64
	probeP99Limit  time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.aleph, "aleph", "", "aleph binary to run (default: go build ./cmd/aleph into a temp dir)")
	flag.StringVar(&cfg.url, "url", "", "attach to this node instead of starting one (needs -pid and -data-dir)")
	flag.IntVar(&cfg.pid, "pid", 0, "pid of the attached node")
	flag.StringVar(&cfg.dataDir, "data-dir", "", "data dir of the attached node")
	flag.StringVar(&cfg.rows, "rows", "1,2,3,4,5,6,7,8", "rows to run, comma-separated")
	flag.StringVar(&cfg.nodeArgs, "node-args", "", "extra flags for aleph node run, space-separated (-quick: shorter body-rate window and idle timeout, to fit -r5-wait)")
	flag.BoolVar(&cfg.quick, "quick", false, "small sizes (about 1/10) for a smoke test under a minute")
	flag.BoolVar(&cfg.json, "json", false, "print JSON instead of tables")
	flag.IntVar(&cfg.r1N, "r1-n", 100, "row 1: POSTs")
	flag.IntVar(&cfg.r1Sender, "r1-sender", 900_000, "row 1: sender length in characters")
	flag.IntVar(&cfg.r2Bytes, "r2-bytes", 25_000_000, "row 2: size of the JSON array")
	flag.IntVar(&cfg.r2Par, "r2-par", 4, "row 2: requests at once in the second round")
	flag.IntVar(&cfg.r3Big, "r3-bytes", 90_000_000, "row 3: size of the first file part")
	flag.IntVar(&cfg.r4Bytes, "r4-bytes", 300_000_000, "row 4: size of the anonymous upload")
	flag.IntVar(&cfg.anonLimit, "anon-limit", 26_214_400, "row 4: the node's --max-unauthenticated-upload-size")
	flag.IntVar(&cfg.r5Slow, "r5-slow", 500, "row 5: slow-body connections")
	flag.IntVar(&cfg.r5Idle, "r5-idle", 500, "row 5: idle keep-alive connections")
	flag.DurationVar(&cfg.r5Wait, "r5-wait", 60*time.Second, "row 5: longest wait for the node to close them")
	flag.DurationVar(&cfg.r5Quiet, "r5-quiet", 10*time.Second, "row 5: how long the well-behaved client polls alone first")
	flag.IntVar(&cfg.r6N, "r6-n", 2000, "row 6: websockets")
	flag.DurationVar(&cfg.r6After, "r6-after", 30*time.Second, "row 6: longest wait for RSS to settle (move < 1 % over 3 s) after the sockets open and after they close")
	flag.DurationVar(&cfg.r6Release, "r6-release", 11*time.Second, "row 6: least wait after closing the sockets before RSS is read (the node returns memory to the OS at most once per 10 s, so a second crowd's release can come that late)")
	flag.Float64Var(&cfg.wsMiBPerSocket, "r6-bound", 1.0, "row 6: memory bound, MiB per open websocket")
	flag.StringVar(&cfg.r6Profile, "r6-profile", "", "row 6: while the first crowd is open, save the node's heap and goroutine profiles to this path prefix (.heap, .goroutine; needs -node-args=--pprof)")
	flag.IntVar(&cfg.r6History, "r6-seed", 50, "row 6: posts stored first, so that history=50 has something to send")
	flag.IntVar(&cfg.r7N, "r7-n", 11_000, "row 7: addresses / tags in one query")
	flag.IntVar(&cfg.r7Posts, "r7-seed", 30_000, "row 7: posts stored first, for the large-page queries")
	flag.IntVar(&cfg.r8Chain, "r8-chain", 500_000, "row 8: length of the unknown chain name")
	flag.DurationVar(&cfg.rowTimeout, "row-timeout", 4*time.Minute, "longest time one row may take")
	flag.DurationVar(&cfg.probeP99Limit, "r5-p99", 50*time.Millisecond, "row 5: bound on the well-behaved client's p99")
	flag.Parse()
	if cfg.quick {
		quick(&cfg)
	}
	rows, err := parseRows(cfg.rows)
	if err != nil {
		fmt.Fprintln(os.Stderr, "abuse:", err)
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, cfg, rows); err != nil {
		fmt.Fprintln(os.Stderr, "abuse:", err)
		cancel()
		os.Exit(1)
	}
}

// quick divides the sizes that were left at their defaults by about 10.
func quick(cfg *config) {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	def := func(name string, p *int, v int) {
		if !set[name] {
			*p = v
		}
	}
	def("r1-n", &cfg.r1N, 10)
	def("r1-sender", &cfg.r1Sender, 90_000)
	def("r2-bytes", &cfg.r2Bytes, 2_500_000)
	def("r3-bytes", &cfg.r3Big, 9_000_000)
	def("r4-bytes", &cfg.r4Bytes, 30_000_000)
	def("r5-slow", &cfg.r5Slow, 50)
	def("r5-idle", &cfg.r5Idle, 50)
	def("r6-n", &cfg.r6N, 400) // over the hub's release threshold (256): a smaller crowd's garbage waits for the next GC
	def("r7-n", &cfg.r7N, 1_100)
	def("r8-chain", &cfg.r8Chain, 50_000)
	def("r7-seed", &cfg.r7Posts, 1_000)
	if !set["r5-wait"] {
		cfg.r5Wait = 8 * time.Second
	}
	if !set["node-args"] {
		cfg.nodeArgs = "--http-body-rate-window=3s --http-idle-timeout=3s"
	}
	if !set["r5-quiet"] {
		cfg.r5Quiet = 3 * time.Second
	}
	if !set["r6-after"] {
		cfg.r6After = 10 * time.Second
	}
}

func parseRows(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 8 {
			return nil, fmt.Errorf("-rows: %q is not a row 1..8", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-rows: no row")
	}
	return out, nil
}

// result is one row's measurement.
type result struct {
	Row      int            `json:"row"`
	What     string         `json:"what"`
	Before   snapshot       `json:"before"`
	After    snapshot       `json:"after"`
	PeakRSS  int64          `json:"peak_rss_bytes"`
	PeakDisk int64          `json:"peak_disk_bytes"`
	PeakFDs  int            `json:"peak_socket_fds"`
	Statuses map[string]int `json:"statuses"`
	Lines    [][]string     `json:"details"` // extra table: first line is the header
	Summary  string         `json:"summary"`
	Bound    string         `json:"bound"`
	Verdict  string         `json:"verdict"`
	Err      string         `json:"error,omitempty"`
	Seconds  float64        `json:"seconds"`
}

func (r *result) status(code int, err error) {
	if r.Statuses == nil {
		r.Statuses = map[string]int{}
	}
	if err != nil {
		r.Statuses["error"]++
		return
	}
	r.Statuses[strconv.Itoa(code)]++
}

// statusText is the statuses seen, like "200×3 422×1".
func (r *result) statusText() string {
	var codes []string
	for c := range r.Statuses {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s×%d", c, r.Statuses[c]))
	}
	return strings.Join(parts, " ")
}

func (r *result) line(cells ...string) { r.Lines = append(r.Lines, cells) }

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

type rowFunc func(ctx context.Context, cfg config, n *node, r *result) error

var rowFuncs = map[int]struct {
	what string
	f    rowFunc
}{
	1: {"huge sender, zero signature", row1},
	2: {"large add_json", row2},
	3: {"add_file with two file parts", row3},
	4: {"large anonymous ipfs/add_file", row4},
	5: {"slow bodies and idle keep-alives", row5},
	6: {"many websockets", row6},
	7: {"posts.json huge filters and pages", row7},
	8: {"envelope details", row8},
}

func run(ctx context.Context, cfg config, rows []int) error {
	var bin, tmp string
	if cfg.url == "" {
		var err error
		tmp, err = os.MkdirTemp("", "aleph-abuse-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		bin = cfg.aleph
		if bin == "" {
			if bin, err = buildAleph(ctx, tmp); err != nil {
				return err
			}
		}
	} else if u, err := url.Parse(cfg.url); err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
		return fmt.Errorf("-url must be a 127.0.0.1 address")
	}
	var results []*result
	for _, row := range rows {
		if ctx.Err() != nil {
			break
		}
		var n *node
		var err error
		if cfg.url == "" {
			n, err = startNode(ctx, bin, tmp, strings.Fields(cfg.nodeArgs)...)
		} else {
			n, err = attachNode(ctx, cfg.url, cfg.pid, cfg.dataDir)
		}
		if err != nil {
			return err
		}
		r := runRow(ctx, cfg, n, row)
		n.stop()
		results = append(results, r)
		if !cfg.json {
			printRow(r)
		}
	}
	if cfg.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	printSummary(results)
	return ctx.Err()
}

func runRow(ctx context.Context, cfg config, n *node, row int) *result {
	rf := rowFuncs[row]
	r := &result{Row: row, What: rf.what, Statuses: map[string]int{}}
	ctx, cancel := context.WithTimeout(ctx, cfg.rowTimeout)
	defer cancel()
	seed := map[int]int{6: cfg.r6History, 7: cfg.r7Posts}[row]
	if err := seedPosts(ctx, n, seed); err != nil {
		r.Err, r.Verdict = err.Error(), "FAIL"
		return r
	}
	// The node's own startup writes land after it first answers: the
	// starting figures wait for them.
	settleFor(n, 2*time.Second, 30*time.Second)
	r.Before = measure(n.pid, n.dataDir)
	s := startSampler(n.pid, n.dataDir)
	t0 := time.Now()
	err := rf.f(ctx, cfg, n, r)
	r.Seconds = time.Since(t0).Seconds()
	settle(n)
	r.PeakRSS, r.PeakDisk, r.PeakFDs = s.end()
	r.After = measure(n.pid, n.dataDir)
	r.PeakRSS = max(r.PeakRSS, r.After.RSS)
	r.PeakDisk = max(r.PeakDisk, r.After.Disk)
	if err != nil {
		r.Err = err.Error()
		if r.Verdict == "" {
			r.Verdict = "FAIL"
		}
	}
	if r.Verdict == "" {
		r.Verdict = "?"
	}
	return r
}

// settle waits (at most 3 s) until the data dir size stops changing, so
// that writes still in flight at the end of a row are counted.
func settle(n *node) { settleFor(n, 300*time.Millisecond, 3*time.Second) }

// settleFor waits until the data dir size has not changed for quiet, or
// until limit.
func settleFor(n *node, quiet, limit time.Duration) {
	const every = 100 * time.Millisecond
	deadline := time.Now().Add(limit)
	prev, since := dirSize(n.dataDir), time.Now()
	for time.Since(since) < quiet && time.Now().Before(deadline) {
		time.Sleep(every)
		if cur := dirSize(n.dataDir); cur != prev {
			prev, since = cur, time.Now()
		}
	}
}

func printRow(r *result) {
	fmt.Printf("\n== row %d: %s (%.1f s)\n", r.Row, r.What, r.Seconds)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\tbefore\tafter\tpeak\t")
	fmt.Fprintf(w, "data dir\t%s\t%s\t%s\t\n", mib(r.Before.Disk), mib(r.After.Disk), mib(r.PeakDisk))
	fmt.Fprintf(w, "VmRSS\t%s\t%s\t%s\t\n", mib(r.Before.RSS), mib(r.After.RSS), mib(r.PeakRSS))
	fmt.Fprintf(w, "VmHWM\t%s\t%s\t\t\n", mib(r.Before.HWM), mib(r.After.HWM))
	fmt.Fprintf(w, "socket fds\t%d\t%d\t%d\t\n", r.Before.Conns, r.After.Conns, r.PeakFDs)
	w.Flush()
	fmt.Printf("statuses: %s\n", r.statusText())
	if len(r.Lines) > 0 {
		w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		for _, l := range r.Lines {
			fmt.Fprintln(w, strings.Join(l, "\t"))
		}
		w.Flush()
	}
	if r.Err != "" {
		fmt.Printf("error: %s\n", r.Err)
	}
}

func printSummary(results []*result) {
	fmt.Println("\n== summary")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "row\twhat\tmeasured\tbound\tverdict")
	for _, r := range results {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", r.Row, r.What, r.Summary, r.Bound, r.Verdict)
	}
	w.Flush()
}
