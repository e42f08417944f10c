package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

var client = &http.Client{Timeout: 2 * time.Minute}

// do sends one request and reads the whole answer; it returns the status,
// the body (the first 64 KiB) and the body's full length.
func do(ctx context.Context, method, u, ctype string, body io.Reader) (int, []byte, int64, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, 0, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	rest, _ := io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, head, int64(len(head)) + rest, nil
}

// envelope is a POST message in the shape the SDKs send, with the given
// fields overriding the defaults; it is not validly signed.
func envelope(over map[string]any) map[string]any {
	content := `{"type":"abuse","address":"0x0000000000000000000000000000000000000000","content":{"n":1},"time":1700000000}`
	sum := sha256.Sum256([]byte(content))
	m := map[string]any{
		"chain":        "ETH",
		"sender":       "0x0000000000000000000000000000000000000000",
		"type":         "POST",
		"channel":      "TEST",
		"item_type":    "inline",
		"item_content": content,
		"item_hash":    hex.EncodeToString(sum[:]),
		"time":         1700000000.0,
		"signature":    "0x" + strings.Repeat("0", 130),
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

func postMessage(ctx context.Context, n *node, raw []byte) (int, []byte, error) {
	code, body, _, err := do(ctx, "POST", n.url+"/api/v0/messages", "application/json", bytes.NewReader(raw))
	return code, body, err
}

// postMessageLen is postMessage that also returns the answer's full length.
func postMessageLen(ctx context.Context, n *node, raw []byte) (int, []byte, int64, error) {
	return do(ctx, "POST", n.url+"/api/v0/messages", "application/json", bytes.NewReader(raw))
}

func wrap(msg map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"sync": false, "message": msg})
	return b
}

// row1: n POSTs with a huge sender and a zero signature (refused by the
// sender cap), then n with a sender of the usual length, a zero signature
// and 150 KB of inline content (accepted, then rejected by the signature
// check: what the node keeps of those is the cost a stranger can impose).
// The data dir is measured closed (see closedSize), after a restart with
// no traffic to show what a restart itself writes.
func row1(ctx context.Context, cfg config, n *node, r *result) error {
	c0, err := n.closedSize(ctx)
	if err != nil {
		return err
	}
	c1, err := n.closedSize(ctx)
	if err != nil {
		return err
	}
	for i := 0; i < cfg.r1N && ctx.Err() == nil; i++ {
		sender := fmt.Sprintf("%06d", i) + strings.Repeat("a", max(0, cfg.r1Sender-6))
		code, _, err := postMessage(ctx, n, wrap(envelope(map[string]any{"sender": sender})))
		r.status(code, err)
	}
	cA, err := n.closedSize(ctx)
	if err != nil {
		return err
	}
	var last string
	for i := 0; i < cfg.r1N && ctx.Err() == nil; i++ {
		content := fmt.Sprintf(`{"type":"abuse","address":"0x0000000000000000000000000000000000000000","content":{"n":%d,"pad":"%s"},"time":1700000000}`,
			i, strings.Repeat("p", 150_000))
		sum := sha256.Sum256([]byte(content))
		last = hex.EncodeToString(sum[:])
		code, _, err := postMessage(ctx, n, wrap(envelope(map[string]any{"item_content": content, "item_hash": last})))
		r.status(code, err)
	}
	status := waitStatus(ctx, n, last, "rejected", time.Minute)
	cB, err := n.closedSize(ctx)
	if err != nil {
		return err
	}
	if c0 < 0 { // attached: the running dir is all there is
		c1, cA, cB = r.Before.Disk, r.Before.Disk, dirSize(n.dataDir)
	}
	perA := (cA - c1) / int64(max(1, cfg.r1N))
	perB := (cB - cA) / int64(max(1, cfg.r1N))
	r.line("data dir, closed", "bytes", "growth per request")
	r.line("fresh node", strconv.FormatInt(c0, 10), "")
	r.line("after a restart, no traffic", strconv.FormatInt(c1, 10), fmt.Sprintf("(%+d in all)", c1-c0))
	r.line(fmt.Sprintf("after %d × %d-char sender", cfg.r1N, cfg.r1Sender), strconv.FormatInt(cA, 10), strconv.FormatInt(perA, 10))
	r.line(fmt.Sprintf("after %d × 150 KB unsigned (last: %s)", cfg.r1N, status), strconv.FormatInt(cB, 10), strconv.FormatInt(perB, 10))
	r.Summary = fmt.Sprintf("closed data dir +%d B/request (huge sender), +%d B/request (150 KB unsigned, %s)", perA, perB, status)
	r.Bound = "≤ 1 KB/request"
	r.Verdict = verdict(perA <= 1024 && perB <= 1024 && status == "rejected")
	return nil
}

// waitStatus polls the message's status until it is want or limit passes,
// and returns the last status seen.
func waitStatus(ctx context.Context, n *node, hash, want string, limit time.Duration) string {
	deadline := time.Now().Add(limit)
	status := "unknown"
	for time.Now().Before(deadline) && ctx.Err() == nil {
		code, body, _, err := do(ctx, "GET", n.url+"/api/v0/messages/"+hash+"/status", "", nil)
		var ans struct{ Status string }
		if err == nil && code == 200 && json.Unmarshal(body, &ans) == nil {
			status = ans.Status
			if status == want {
				return status
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return status
}

// jsonArray streams a JSON array of about size bytes.
func jsonArray(size int) io.Reader {
	elems := max(1, (size-2)/2)
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		w.WriteByte('[')
		for i := 0; i < elems; i++ {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteByte('1')
		}
		w.WriteByte(']')
		pw.CloseWithError(w.Flush())
	}()
	return pr
}

// row2: one large add_json, then r2Par at once.
func row2(ctx context.Context, cfg config, n *node, r *result) error {
	one := func() {
		code, _, _, err := do(ctx, "POST", n.url+"/api/v0/storage/add_json", "application/json", jsonArray(cfg.r2Bytes))
		r.status(code, err)
	}
	base, _, _ := procMem(n.pid)
	s := startSampler(n.pid, n.dataDir)
	one()
	peak1, _, _ := s.end()
	base2, _, _ := procMem(n.pid)
	s = startSampler(n.pid, n.dataDir)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 0; i < cfg.r2Par; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, _, err := do(ctx, "POST", n.url+"/api/v0/storage/add_json", "application/json", jsonArray(cfg.r2Bytes))
			mu.Lock()
			r.status(code, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	peakN, _, _ := s.end()
	d1, dN := peak1-base, peakN-base2
	body := int64(cfg.r2Bytes)
	r.line("round", "requests", "RSS before", "RSS peak", "peak - before", "per request / body")
	r.line("1", "1", mib(base), mib(peak1), mib(d1), fmt.Sprintf("%.1f×", float64(d1)/float64(body)))
	r.line("2", strconv.Itoa(cfg.r2Par), mib(base2), mib(peakN), mib(dN), fmt.Sprintf("%.1f×", float64(dN)/float64(body)/float64(cfg.r2Par)))
	r.Summary = fmt.Sprintf("RSS +%s for 1, +%s for %d (body %s)", mib(d1), mib(dN), cfg.r2Par, mib(body))
	r.Bound = "peak ≤ 4× body per request"
	r.Verdict = verdict(d1 <= 4*body && dN <= 4*body*int64(cfg.r2Par))
	return nil
}

// noise streams n pseudo-random bytes: zeros would be deduplicated by the
// IPFS engine's block store and hide what an upload writes.
type noise struct {
	n   int64
	rng *rand.PCG
}

func newNoise(n int64) *noise { return &noise{n: n, rng: rand.NewPCG(uint64(n), 1)} }

func (z *noise) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), z.n) &^ 7
	if k == 0 {
		k = min(int64(len(p)), z.n)
		for i := range p[:k] {
			p[i] = byte(z.rng.Uint64())
		}
	} else {
		for i := int64(0); i < k; i += 8 {
			binary.LittleEndian.PutUint64(p[i:], z.rng.Uint64())
		}
	}
	z.n -= k
	return int(k), nil
}

// multipartBody streams a form with one "file" part per size.
func multipartBody(sizes ...int64) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for i, sz := range sizes {
			part, err := mw.CreateFormFile("file", fmt.Sprintf("f%d.bin", i))
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			var src io.Reader = newNoise(sz)
			if sz < 64 {
				src = strings.NewReader(strings.Repeat("x", int(sz)))
			}
			if _, err := io.Copy(part, src); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	return pr, mw.FormDataContentType()
}

// row3: add_file with a large then a small "file" part, no metadata.
func row3(ctx context.Context, cfg config, n *node, r *result) error {
	body, ctype := multipartBody(int64(cfg.r3Big), 6)
	code, ans, _, err := do(ctx, "POST", n.url+"/api/v0/storage/add_file", ctype, body)
	r.status(code, err)
	r.line("status", "answer")
	r.line(strconv.Itoa(code), clip(string(ans), 160))
	settle(n)
	grow := dirSize(n.dataDir) - r.Before.Disk
	r.Summary = fmt.Sprintf("status %d, disk +%s after a %s part", code, mib(grow), mib(int64(cfg.r3Big)))
	r.Bound = "no orphan (disk growth < half the large part)"
	r.Verdict = verdict(grow < int64(cfg.r3Big)/2)
	return nil
}

// row4: a large anonymous ipfs/add_file.
func row4(ctx context.Context, cfg config, n *node, r *result) error {
	body, ctype := multipartBody(int64(cfg.r4Bytes))
	s := startSampler(n.pid, n.dataDir)
	code, ans, _, err := do(ctx, "POST", n.url+"/api/v0/ipfs/add_file", ctype, body)
	_, peakDisk, _ := s.end()
	r.status(code, err)
	errText := ""
	if err != nil {
		errText = err.Error()
	}
	r.line("status", "answer", "client error")
	r.line(strconv.Itoa(code), clip(string(ans), 120), clip(errText, 80))
	written := peakDisk - r.Before.Disk
	limit := int64(cfg.anonLimit)
	r.Summary = fmt.Sprintf("status %d, peak disk +%s (limit %s)", code, mib(written), mib(limit))
	r.Bound = "writes ≤ anonymous limit (+1 MiB)"
	r.Verdict = verdict(code >= 400 && code < 500 && written <= limit+1<<20)
	return nil
}

// row5: slow bodies and idle keep-alives, with a well-behaved client.
func row5(ctx context.Context, cfg config, n *node, r *result) error {
	addr := strings.TrimPrefix(n.url, "http://")
	// The same client first alone, so that the machine's own noise shows
	// apart from what the attack costs.
	logStart := n.logCount()
	quiet, quietErrs := probe(ctx, n.url, time.Now().Add(cfg.r5Quiet), func() bool { return false }, nil)
	start := time.Now()
	deadline := start.Add(cfg.r5Wait)
	type conn struct {
		c      net.Conn
		closed atomic.Int64 // ns since start, 0 while open
	}
	var slow, idle []*conn
	var wg sync.WaitGroup
	watch := func(c *conn, br *bufio.Reader) {
		defer wg.Done()
		_ = c.c.SetReadDeadline(deadline.Add(time.Second))
		buf := make([]byte, 4096)
		for {
			var err error
			if br != nil {
				_, err = br.Read(buf)
			} else {
				_, err = c.c.Read(buf)
			}
			if err != nil {
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					c.closed.Store(int64(time.Since(start)))
				}
				return
			}
		}
	}
	dial := func() (net.Conn, error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		return d.DialContext(ctx, "tcp", addr)
	}
	var dialErrs int
	for i := 0; i < cfg.r5Slow; i++ {
		c, err := dial()
		if err != nil {
			dialErrs++
			continue
		}
		fmt.Fprintf(c, "POST /api/v0/messages HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", addr)
		sc := &conn{c: c}
		slow = append(slow, sc)
		wg.Add(1)
		go watch(sc, nil)
	}
	for i := 0; i < cfg.r5Idle; i++ {
		c, err := dial()
		if err != nil {
			dialErrs++
			continue
		}
		ic := &conn{c: c}
		fmt.Fprintf(c, "GET /api/v0/version HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		br := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			c.Close()
			dialErrs++
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		idle = append(idle, ic)
		wg.Add(1)
		go watch(ic, br)
	}
	opened := socketFDs(n.pid)
	// The slow writers: one byte every 3 s while the connection is open.
	stopWriters := make(chan struct{})
	var wwg sync.WaitGroup
	for _, c := range slow {
		wwg.Add(1)
		go func(c *conn) {
			defer wwg.Done()
			t := time.NewTicker(3 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-stopWriters:
					return
				case <-t.C:
					if c.closed.Load() != 0 {
						return
					}
					_ = c.c.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := c.c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}(c)
	}
	// The well-behaved client, every 100 ms, until all are closed or the cap.
	allClosed := func(cs []*conn) bool {
		for _, c := range cs {
			if c.closed.Load() == 0 {
				return false
			}
		}
		return true
	}
	lat, probeErrs := probe(ctx, n.url, deadline, func() bool { return allClosed(slow) && allClosed(idle) }, r)
	close(stopWriters)
	wwg.Wait()
	for _, c := range append(append([]*conn{}, slow...), idle...) {
		_ = c.c.SetReadDeadline(time.Now())
	}
	wg.Wait()
	summarize := func(cs []*conn) (closed int, last time.Duration) {
		for _, c := range cs {
			if t := c.closed.Load(); t != 0 {
				closed++
				last = max(last, time.Duration(t))
			}
		}
		return
	}
	for _, c := range append(append([]*conn{}, slow...), idle...) {
		c.c.Close()
	}
	sc, sl := summarize(slow)
	ic, il := summarize(idle)
	pct := percentiles(lat)
	qpct := percentiles(quiet)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
	r.line("what", "opened", "closed by node", "last close after", "")
	r.line("slow bodies", strconv.Itoa(len(slow)), strconv.Itoa(sc), sl.Round(time.Millisecond).String(), "")
	r.line("idle keep-alives", strconv.Itoa(len(idle)), strconv.Itoa(ic), il.Round(time.Millisecond).String(), "")
	r.line("socket fds with all open", strconv.Itoa(opened), "", "", "")
	r.line("dial/handshake errors", strconv.Itoa(dialErrs), "", "", "")
	r.line("probe GET /api/v0/version", "n", "p50", "p99", "max")
	r.line(fmt.Sprintf("alone, %s before", cfg.r5Quiet), strconv.Itoa(len(quiet)), ms(qpct(0.5)), ms(qpct(0.99)), ms(qpct(1)))
	r.line("during the attack", strconv.Itoa(len(lat)), ms(pct(0.5)), ms(pct(0.99)), ms(pct(1)))
	r.line("probe errors (alone, during)", fmt.Sprintf("%d, %d", quietErrs, probeErrs), "", "", "")
	r.line("node log lines during the row", strconv.Itoa(len(n.logsSince(logStart))), "", "", "")
	r.Summary = fmt.Sprintf("closed %d/%d slow, %d/%d idle in %s; probe p50 %s, p99 %s (alone: p50 %s, p99 %s)",
		sc, len(slow), ic, len(idle), cfg.r5Wait, ms(pct(0.5)), ms(pct(0.99)), ms(qpct(0.5)), ms(qpct(0.99)))
	r.Bound = fmt.Sprintf("all closed within %s, p99 < %s", cfg.r5Wait, cfg.probeP99Limit)
	r.Verdict = verdict(sc == len(slow) && ic == len(idle) && pct(0.99) < cfg.probeP99Limit && probeErrs == 0)
	return nil
}

// probe GETs /api/v0/version every 100 ms until deadline or done, and
// returns the latencies and the number of failures; r, if not nil,
// counts the statuses.
func probe(ctx context.Context, url string, deadline time.Time, done func() bool, r *result) ([]time.Duration, int) {
	var lat []time.Duration
	var errs int
	pc := &http.Client{Timeout: 5 * time.Second}
	for time.Now().Before(deadline) && ctx.Err() == nil && !done() {
		t0 := time.Now()
		resp, err := pc.Get(url + "/api/v0/version")
		if err != nil {
			errs++
		} else {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat = append(lat, time.Since(t0))
			if r != nil {
				r.status(resp.StatusCode, nil)
			}
		}
		time.Sleep(max(0, 100*time.Millisecond-time.Since(t0))) // the polling period
	}
	pc.CloseIdleConnections()
	return lat, errs
}

// percentiles sorts lat and returns its p-quantile function.
func percentiles(lat []time.Duration) func(p float64) time.Duration {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
}

// row6: many websockets with history=50, then closed; twice, so that
// memory the node keeps for good (the first round's) shows apart from
// memory it keeps per round (a leak).
func row6(ctx context.Context, cfg config, n *node, r *result) error {
	logStart := n.logCount()
	wsURL := "ws" + strings.TrimPrefix(n.url, "http") + "/api/ws0/messages?history=50"
	parts := []memParts{readMemParts(ctx, n.url, n.pid)}
	var open, fdsOpen int
	var during, afterPeak int64
	var after []int64
	var waits []string
	for round := 0; round < 2 && ctx.Err() == nil; round++ {
		conns := openSockets(ctx, wsURL, cfg.r6N, r)
		o := 0
		for _, c := range conns {
			if c != nil {
				o++
			}
		}
		// While open: the node is still sending histories, so the
		// peak of the settle wait is the figure.
		_, peak, _, _ := waitRSSSettled(ctx, n.pid, cfg.r6After)
		if round == 0 {
			open, fdsOpen, during = o, socketFDs(n.pid), peak
			if err := saveProfiles(ctx, n.url, cfg.r6Profile, ""); err != nil {
				return err
			}
			parts = append(parts, readMemParts(ctx, n.url, n.pid))
		}
		for _, c := range conns {
			if c != nil {
				c.CloseNow()
			}
		}
		closed := time.Now()
		last, peak, _, settled := waitRSSSettled(ctx, n.pid, cfg.r6After)
		if wait := cfg.r6Release - time.Since(closed); wait > 0 {
			// The node's planned release (at most once per 10 s) may
			// not have run yet: wait for it, then settle again.
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			var p2 int64
			last, p2, _, settled = waitRSSSettled(ctx, n.pid, cfg.r6After)
			peak = max(peak, p2)
		}
		took := time.Since(closed)
		afterPeak = max(afterPeak, peak)
		after = append(after, last)
		waits = append(waits, settledText(took, settled, cfg.r6After))
		parts = append(parts, readMemParts(ctx, n.url, n.pid))
		if round == 0 {
			if err := saveProfiles(ctx, n.url, cfg.r6Profile, ".closed"); err != nil {
				return err
			}
		}
	}
	if len(after) < 2 {
		return ctx.Err()
	}
	// Then a burst of sockets closed right after the handshake, while the
	// node may still be sending their history.
	burst := cfg.r6N / 4
	var bwg sync.WaitGroup
	for w := 0; w < 16; w++ {
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			for i := w; i < burst && ctx.Err() == nil; i += 16 {
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				c, _, err := websocket.Dial(dctx, wsURL, nil)
				cancel()
				if err == nil {
					c.CloseNow()
				}
			}
		}()
	}
	bwg.Wait()
	time.Sleep(time.Second) // let the node log what the closes caused
	errLines, ctxLines := 0, 0
	logs := n.logsSince(logStart)
	firstErr := ""
	for _, l := range logs {
		if strings.Contains(l, "ERROR") {
			errLines++
			if firstErr == "" {
				firstErr = clip(l, 160)
			}
			if strings.Contains(l, "context canceled") {
				ctxLines++
			}
		}
	}
	base := r.Before.RSS
	bound := base + int64(cfg.wsMiBPerSocket*float64(1<<20))*int64(max(1, open))
	r.line("what", "value")
	r.line("websockets open", strconv.Itoa(open))
	r.line("socket fds while open", strconv.Itoa(fdsOpen))
	r.line("RSS peak while open", mib(during))
	r.line("RSS peak after closing", mib(afterPeak))
	r.line("RSS after round 1 closed ("+waits[0]+")", mib(after[0]))
	r.line("RSS after round 2 closed ("+waits[1]+")", mib(after[1]))
	r.line("then dialed and closed at once", strconv.Itoa(burst))
	r.line("log lines during the row", strconv.Itoa(len(logs)))
	r.line("ERROR log lines (context canceled)", fmt.Sprintf("%d (%d)", errLines, ctxLines))
	if firstErr != "" {
		r.line("first ERROR line", firstErr)
	}
	if n.cmd == nil {
		r.line("(attached node: its log is not captured)", "")
	}
	memLines(r, []string{"before", "round 1 open", "round 1 closed", "round 2 closed"}, parts)
	r.Summary = fmt.Sprintf("RSS %s → open %s → closed %s (%+.0f%%), after a 2nd round %s (%+.0f%% on the 1st); %d ERROR lines",
		mib(base), mib(during), mib(after[0]), pctOver(after[0], base), mib(after[1]), pctOver(after[1], after[0]), errLines)
	r.Bound = fmt.Sprintf("≤ %.1f MiB/socket, back within 10%%, no ERROR", cfg.wsMiBPerSocket)
	r.Verdict = verdict(during <= bound && float64(after[0]) <= 1.1*float64(base) && errLines == 0)
	return nil
}

// pctOver is how many percent a is above b.
func pctOver(a, b int64) float64 { return 100 * (float64(a) - float64(b)) / float64(max(1, b)) }

// openSockets dials k websockets to u, 32 at a time, and reads (and drops)
// what each receives, so that the node's writes do not block. A failed
// dial leaves a nil.
func openSockets(ctx context.Context, u string, k int, r *result) []*websocket.Conn {
	conns := make([]*websocket.Conn, k)
	var mu sync.Mutex
	var wg sync.WaitGroup
	jobs := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				c, resp, err := websocket.Dial(dctx, u, nil)
				cancel()
				mu.Lock()
				if resp != nil {
					r.status(resp.StatusCode, nil)
				} else {
					r.status(0, err)
				}
				conns[i] = c
				mu.Unlock()
				if err == nil {
					go func() {
						for {
							if _, _, err := c.Read(context.Background()); err != nil {
								return
							}
						}
					}()
				}
			}
		}()
	}
	for i := 0; i < k && ctx.Err() == nil; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return conns
}

// countPosts reads a whole posts.json answer and counts its posts.
func countPosts(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var page struct {
		Posts []json.RawMessage `json:"posts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return 0, err
	}
	return len(page.Posts), nil
}

// maxPage is the node's largest page (api.MaxPageSize).
const maxPage = 1000

// row7: posts.json with huge filters and extreme pagination.
func row7(ctx context.Context, cfg config, n *node, r *result) error {
	addrs := make([]string, cfg.r7N)
	tags := make([]string, cfg.r7N)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("0x%040x", i+1)
		tags[i] = fmt.Sprintf("tag%d", i)
	}
	queries := []struct{ name, q string }{
		{fmt.Sprintf("%d addresses", cfg.r7N), "addresses=" + strings.Join(addrs, ",")},
		{fmt.Sprintf("%d tags", cfg.r7N), "tags=" + strings.Join(tags, ",")},
		{"pagination=0", "pagination=0"},
		{"pagination=10000000", "pagination=10000000"},
	}
	r.line("query", "status", "time", "answer bytes", "answer")
	ok := true
	for _, q := range queries {
		t0 := time.Now()
		code, body, size, err := do(ctx, "GET", n.url+"/api/v0/posts.json?"+q.q, "", nil)
		d := time.Since(t0)
		r.status(code, err)
		if q.q == "pagination=0" {
			// The reference's "no limit": the node answers its largest
			// page, 1,000 posts.
			if n, err := countPosts(ctx, n.url+"/api/v0/posts.json?"+q.q); code != 200 || err != nil || n > maxPage {
				ok = false
			}
		} else if code < 400 || code >= 500 {
			ok = false
		}
		text := clip(string(body), 100)
		if err != nil {
			text = err.Error()
		}
		r.line(q.name, strconv.Itoa(code), d.Round(time.Millisecond).String(), strconv.FormatInt(size, 10), text)
	}
	r.Summary = "statuses " + r.statusText()
	r.Bound = fmt.Sprintf("4xx, and pagination=0 a page of at most %d", maxPage)
	r.Verdict = verdict(ok)
	return nil
}

// row8: envelope details, each checked against what
// docs/design/0008-hostile-input.md decided (the reference's behaviour,
// except that nothing it would echo or fail to store gets through whole).
func row8(ctx context.Context, cfg config, n *node, r *result) error {
	// Each variant has content of its own, so that none is a duplicate.
	env := func(i int, over map[string]any) []byte {
		content := fmt.Sprintf(`{"type":"abuse","address":"0x0000000000000000000000000000000000000000","content":{"row8":%d},"time":1700000000}`, i)
		sum := sha256.Sum256([]byte(content))
		m := map[string]any{"item_content": content, "item_hash": hex.EncodeToString(sum[:])}
		for k, v := range over {
			m[k] = v
		}
		return wrap(envelope(m))
	}
	replace := func(raw []byte, old, new string) []byte {
		return bytes.Replace(raw, []byte(old), []byte(new), 1)
	}
	accepted := func(code int) bool { return code == http.StatusAccepted || code == http.StatusOK }
	refused := func(code int) bool { return code == http.StatusUnprocessableEntity }
	variants := []struct {
		name, want string
		raw        []byte
		ok         func(code int) bool
	}{
		{`"time":"123" (a numeric string)`, "accepted, as pydantic's float", env(1, map[string]any{"time": "123"}), accepted},
		{`"time":"abc"`, "422", env(2, map[string]any{"time": "abc"}), refused},
		{`"time":true`, "422 (pydantic: 1)", env(3, map[string]any{"time": true}), refused},
		{fmt.Sprintf("unknown chain, %d-char name", cfg.r8Chain), "422, ≤ 64 bytes of it quoted",
			env(4, map[string]any{"chain": strings.Repeat("Z", cfg.r8Chain)}), refused},
		{`lone surrogate \ud800 in channel`, "accepted, stored as U+FFFD",
			replace(env(5, nil), `"channel":"TEST"`, `"channel":"T\ud800"`), accepted},
		{`"type":"POST","type":"AGGREGATE"`, "422: the last wins, a POST's content is no aggregate",
			replace(env(6, nil), `"type":"POST"`, `"type":"POST","type":"AGGREGATE"`), refused},
		{`"type":"AGGREGATE","type":"POST"`, "accepted: the last wins",
			replace(env(7, nil), `"type":"POST"`, `"type":"AGGREGATE","type":"POST"`), accepted},
	}
	r.line("variant", "expected", "status", "answer bytes", "verdict", "answer")
	ok := true
	for i, v := range variants {
		code, body, size, err := postMessageLen(ctx, n, v.raw)
		r.status(code, err)
		text := clip(string(body), 100)
		if err != nil {
			text = err.Error()
		}
		good := err == nil && v.ok(code)
		if i == 3 { // the name must not be echoed back
			good = good && size <= 1024 && !strings.Contains(string(body), strings.Repeat("Z", 65))
		}
		ok = ok && good
		r.line(v.name, v.want, strconv.Itoa(code), strconv.FormatInt(size, 10), verdict(good), text)
	}
	r.Summary = "statuses " + r.statusText()
	r.Bound = "as decided in design note 0008 (details)"
	r.Verdict = verdict(ok)
	return nil
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
