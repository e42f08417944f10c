package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// memParts is where a node's resident memory is, from /proc/<pid>/status
// and the Go runtime's figures on /metrics (absent if it does not serve
// them): enough to tell memory the Go heap still holds from memory the
// runtime keeps for itself and from memory outside Go (SQLite's caches
// would be there if the driver allocated outside the Go heap).
type memParts struct {
	RSS, Anon, File int64
	hasGo           bool
	HeapInuse       int64 // spans in use (live objects and their fragmentation)
	HeapUnreleased  int64 // idle spans not yet returned to the OS
	Stacks          int64
	GCMeta          int64 // gc_sys: GC metadata
	Spans           int64 // mspan_sys: span structs, never returned by the runtime
	Runtime         int64 // mcache, profiling buckets, other off-heap runtime memory
	Goroutines      int64
}

// readMemParts samples pid and, over HTTP, its /metrics.
func readMemParts(ctx context.Context, url string, pid int) memParts {
	var m memParts
	if f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 2 {
				continue
			}
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			switch fs[0] {
			case "VmRSS:":
				m.RSS = kb << 10
			case "RssAnon:":
				m.Anon = kb << 10
			case "RssFile:":
				m.File = kb << 10
			}
		}
		f.Close()
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := get(rctx, url+"/metrics")
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	v := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "go_") {
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			v[name] = int64(f)
		}
	}
	if _, ok := v["go_memstats_heap_inuse_bytes"]; !ok {
		return m
	}
	m.hasGo = true
	m.HeapInuse = v["go_memstats_heap_inuse_bytes"]
	m.HeapUnreleased = v["go_memstats_heap_idle_bytes"] - v["go_memstats_heap_released_bytes"]
	m.Stacks = v["go_memstats_stack_sys_bytes"]
	m.GCMeta, m.Spans = v["go_memstats_gc_sys_bytes"], v["go_memstats_mspan_sys_bytes"]
	m.Runtime = v["go_memstats_mcache_sys_bytes"] + v["go_memstats_buck_hash_sys_bytes"] + v["go_memstats_other_sys_bytes"]
	m.Goroutines = v["go_goroutines"]
	return m
}

// memLines adds one line per part, one column per sample.
func memLines(r *result, names []string, ms []memParts) {
	row := func(label string, f func(memParts) string) {
		cells := []string{label}
		for _, m := range ms {
			cells = append(cells, f(m))
		}
		r.line(cells...)
	}
	r.line(append([]string{"memory"}, names...)...)
	row("VmRSS", func(m memParts) string { return mib(m.RSS) })
	row("  file-backed (the binary's pages)", func(m memParts) string { return mib(m.File) })
	row("  anonymous", func(m memParts) string { return mib(m.Anon) })
	if !ms[0].hasGo {
		return
	}
	row("    Go heap spans in use", func(m memParts) string { return mib(m.HeapInuse) })
	row("    Go heap idle, not returned", func(m memParts) string { return mib(m.HeapUnreleased) })
	row("    Go stacks", func(m memParts) string { return mib(m.Stacks) })
	row("    Go GC metadata", func(m memParts) string { return mib(m.GCMeta) })
	row("    Go span structs", func(m memParts) string { return mib(m.Spans) })
	row("    Go runtime, other", func(m memParts) string { return mib(m.Runtime) })
	row("goroutines", func(m memParts) string { return strconv.FormatInt(m.Goroutines, 10) })
}

// waitRSSSettled samples VmRSS every 250 ms until it has moved by less than
// 1 % (and less than 1 MiB) over the last 3 s, or until limit. It returns
// the last sample, the peak seen, how long it took and whether it settled.
func waitRSSSettled(ctx context.Context, pid int, limit time.Duration) (last, peak int64, took time.Duration, settled bool) {
	const window = 3 * time.Second
	const every = 250 * time.Millisecond
	start := time.Now()
	var hist []int64
	for {
		rss, _, _ := procMem(pid)
		last, peak = rss, max(peak, rss)
		hist = append(hist, rss)
		if k := int(window / every); len(hist) > k {
			w := hist[len(hist)-k-1:]
			lo, hi := w[0], w[0]
			for _, x := range w {
				lo, hi = min(lo, x), max(hi, x)
			}
			if d := hi - lo; d < 1<<20 && float64(d) < 0.01*float64(rss) {
				return last, peak, time.Since(start), true
			}
		}
		if time.Since(start) >= limit || ctx.Err() != nil {
			return last, peak, time.Since(start), false
		}
		time.Sleep(every)
	}
}

// settledText says how an RSS wait ended.
func settledText(took time.Duration, settled bool, limit time.Duration) string {
	if settled {
		return fmt.Sprintf("settled after %.1f s", took.Seconds())
	}
	return fmt.Sprintf("still moving after %s (the limit)", limit)
}

// saveProfiles saves the node's heap profile (after a GC, as
// /debug/pprof/heap?gc=1 does) and goroutine profile to
// prefix+when+".heap" and prefix+when+".goroutine", for `go tool pprof`;
// nothing if prefix is empty. The GC changes what the memory figures
// read next: profile and measure in separate runs.
func saveProfiles(ctx context.Context, url, prefix, when string) error {
	if prefix == "" {
		return nil
	}
	for _, p := range []struct{ path, ext string }{
		{"/debug/pprof/heap?gc=1", ".heap"},
		{"/debug/pprof/goroutine", ".goroutine"},
	} {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := saveURL(rctx, url+p.path, prefix+when+p.ext)
		cancel()
		if err != nil {
			return fmt.Errorf("profile %s: %w", p.ext, err)
		}
	}
	return nil
}

// get is a GET of url; the caller closes the body. It asks for no
// compression: Go's client asks for gzip by default, and the node's
// /metrics would then allocate a gzip writer (about 1 MiB of flate
// state, kept in a pool) for the measurement itself, after the starting
// RSS was taken.
func get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	return http.DefaultClient.Do(req)
}

// saveURL saves what a GET of url answers to file.
func saveURL(ctx context.Context, url, file string) error {
	resp, err := get(ctx, url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d (is the node run with --pprof?)", url, resp.StatusCode)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
