package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proxy is the gateway's HTTP handler: it routes a request by its Host to
// a program and forwards it to a compute node that runs it.
type Proxy struct {
	zone      string
	dir       *Directory
	scale     *scaler
	txt       *TXTResolver
	domains   *domainsResolver // nil: the domains aggregates are not read
	transport http.RoundTripper
	ejectFor  time.Duration
	metrics   *metrics
	log       *slog.Logger
	now       func() time.Time
}

// errorBody writes the JSON error the compute nodes write, {"error": …},
// with a code naming the case.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"error\":%q,\"code\":%q}\n", msg, code)
}

// ServeHTTP routes and forwards r.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, err := parseHost(r.Host, p.zone)
	if err != nil {
		p.metrics.misses.WithLabelValues("bad_host").Inc()
		writeError(w, http.StatusNotFound, "unknown_host", "no program at this host")
		return
	}
	hash := h.hash
	switch h.kind {
	case hostZone:
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "Aleph gateway: programs answer at https://<base32 item hash>.%s/ and at custom domains whose TXT record _aleph-id.<domain> names them.\n", p.zone)
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "not found")
		return
	case hostCustom:
		if hash, err = p.program(r.Context(), h.name); err != nil {
			p.metrics.misses.WithLabelValues("no_txt").Inc()
			writeError(w, http.StatusNotFound, "unknown_host", "no program at "+h.name+": no _aleph-id TXT record naming one")
			return
		}
	}
	p.forward(w, r, hash)
}

// program returns the item hash a custom domain names: its _aleph-id TXT
// record, else its owner's domains aggregate.
func (p *Proxy) program(ctx context.Context, domain string) (string, error) {
	hash, err := p.txt.Program(ctx, domain)
	if err == nil || p.domains == nil || ctx.Err() != nil {
		return hash, err
	}
	return p.domains.Program(ctx, domain)
}

// idempotent reports whether r may be sent again: a method without side
// effects and no body.
func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return r.ContentLength == 0 && len(r.TransferEncoding) == 0
	}
	return false
}

// ejectStatus reports whether a compute node's status means the node
// should get no traffic for a while.
func ejectStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// maxAttempts bounds the nodes one request is sent to.
const maxAttempts = 3

// isDialError reports whether err is a failure to connect: the request
// was not sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// forward sends r to a node serving hash (see send) and records the
// program's metrics once the request reached a node.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, hash string) {
	start := p.now()
	code, routed := p.send(w, r, hash)
	if routed {
		p.metrics.progRequests.WithLabelValues(hash, strconv.Itoa(code)).Inc()
		p.metrics.progLatency.WithLabelValues(hash).Observe(p.now().Sub(start).Seconds())
	}
}

// send sends r to a node serving hash, and once more to another one if
// it fails and may be repeated (more than once while nodes refuse
// connections). When no node runs the program, or every one failed, the
// scaler may place it on a node with capacity. It returns the status
// written and whether a node was asked.
func (p *Proxy) send(w http.ResponseWriter, r *http.Request, hash string) (int, bool) {
	ts := p.scale.targets(hash)
	if len(ts) == 0 {
		t, err := p.scale.start(r.Context(), hash, nil, "start")
		if err != nil {
			return p.noUpstream(w, hash, err), false
		}
		ts = []target{t}
	}
	retry := idempotent(r)
	var tried []*Upstream
	for attempt := 0; ; attempt++ {
		if attempt > 0 { // the freshest view: a node may have joined meanwhile
			ts = p.scale.targets(hash)
		}
		t, ok := pick(ts, tried, p.now())
		if !ok {
			// Every node serving it failed: start it on another one.
			var err error
			if t, err = p.scale.start(r.Context(), hash, tried, "failover"); err == nil {
				ts = append(ts, t)
			} else {
				writeError(w, http.StatusBadGateway, "upstream_failed", "the compute node running the program failed")
				return http.StatusBadGateway, true
			}
		}
		p.scale.maybeScaleOut(hash, ts, t)
		res, err := p.try(r, t)
		if err == nil && !ejectStatus(res.StatusCode) {
			p.scale.used(hash, t.up)
			if res.StatusCode == http.StatusSwitchingProtocols {
				return p.switchProtocols(w, r, res, t.up), true
			}
			p.copyResponse(w, res, t.up)
			return res.StatusCode, true
		}
		if r.Context().Err() != nil { // the client left: not the node's fault
			if res != nil {
				res.Body.Close()
			}
			return 499, true
		}
		reason := "connect"
		if err == nil {
			reason = strconv.Itoa(res.StatusCode)
		}
		if t.up.eject(p.now(), p.ejectFor) {
			p.metrics.ejections.WithLabelValues(t.up.base, reason).Inc()
			p.log.Warn("upstream ejected", "upstream", t.up.base, "reason", reason, "for", p.ejectFor, "err", err)
		}
		tried = append(tried, t.up)
		// Once after any failure; again while connections are refused
		// (nothing was sent), up to maxAttempts.
		if retry && len(tried) < maxAttempts && (attempt == 0 || isDialError(err)) {
			if res != nil {
				io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
				res.Body.Close()
			}
			p.metrics.retries.WithLabelValues(hash).Inc()
			continue
		}
		if err != nil {
			writeError(w, http.StatusBadGateway, "upstream_failed", "the compute node running the program failed")
			return http.StatusBadGateway, true
		}
		p.copyResponse(w, res, t.up)
		return res.StatusCode, true
	}
}

// noUpstream answers a request for hash that no node runs and that the
// scaler could not place (err), and returns the status.
func (p *Proxy) noUpstream(w http.ResponseWriter, hash string, err error) int {
	switch {
	case errors.Is(err, errUnknownProgram):
		p.metrics.misses.WithLabelValues("no_program").Inc()
		writeError(w, http.StatusNotFound, "unknown_program", "no program "+hash)
		return http.StatusNotFound
	case errors.Is(err, errNoCapacity):
		p.metrics.misses.WithLabelValues("no_capacity").Inc()
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "no_capacity", "no compute node runs program "+hash+" and none has room to start it")
		return http.StatusServiceUnavailable
	}
	p.metrics.misses.WithLabelValues("no_upstream").Inc()
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, "no_upstream", "no compute node runs program "+hash+" now")
	return http.StatusServiceUnavailable
}

// hopHeaders are the headers of one connection, never forwarded
// (RFC 9110 §7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func removeHopHeaders(h http.Header) {
	for _, f := range h.Values("Connection") {
		for name := range strings.SplitSeq(f, ",") {
			h.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// try sends r to t and returns its response (headers read) or the error
// of the exchange.
func (p *Proxy) try(r *http.Request, t target) (*http.Response, error) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, t.url+r.URL.EscapedPath(), r.Body)
	if err != nil {
		return nil, err
	}
	out.URL.RawQuery = r.URL.RawQuery
	out.ContentLength = r.ContentLength
	if r.ContentLength == 0 {
		out.Body = http.NoBody
	}
	out.Header = r.Header.Clone()
	removeHopHeaders(out.Header)
	if up := upgradeType(r.Header); up != "" {
		out.Header.Set("Connection", "Upgrade")
		out.Header.Set("Upgrade", up)
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := out.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		out.Header.Set("X-Forwarded-For", ip)
	}
	out.Header.Set("X-Forwarded-Host", r.Host)
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	out.Header.Set("X-Forwarded-Proto", proto)
	t.up.inflight.Add(1)
	start := p.now()
	res, err := p.transport.RoundTrip(out)
	if err != nil {
		t.up.inflight.Add(-1)
		p.metrics.requests.WithLabelValues(t.up.base, "error").Inc()
		return nil, err
	}
	t.up.observe(p.now().Sub(start))
	p.metrics.requests.WithLabelValues(t.up.base, strconv.Itoa(res.StatusCode)).Inc()
	if res.StatusCode == http.StatusSwitchingProtocols {
		// An upgraded connection is no request in flight (switchProtocols).
		t.up.inflight.Add(-1)
		return res, nil
	}
	res.Body = &countedBody{ReadCloser: res.Body, done: func() {
		t.up.inflight.Add(-1)
		p.metrics.latency.WithLabelValues(t.up.base).Observe(p.now().Sub(start).Seconds())
	}}
	return res, nil
}

// upgradeType is the protocol a request asks to switch to (its Upgrade
// header, with Connection: upgrade), or "".
func upgradeType(h http.Header) string {
	for _, f := range h.Values("Connection") {
		for tok := range strings.SplitSeq(f, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return h.Get("Upgrade")
			}
		}
	}
	return ""
}

// switchProtocols relays a 101 answer (a websocket): it takes over the
// client's connection, writes the answer and copies bytes both ways until
// either side closes. It returns the status for the metrics.
func (p *Proxy) switchProtocols(w http.ResponseWriter, r *http.Request, res *http.Response, up *Upstream) int {
	backend, ok := res.Body.(io.ReadWriteCloser)
	if !ok || upgradeType(r.Header) == "" || !strings.EqualFold(res.Header.Get("Upgrade"), upgradeType(r.Header)) {
		res.Body.Close()
		writeError(w, http.StatusBadGateway, "upstream_failed", "the compute node switched to a protocol not asked for")
		return http.StatusBadGateway
	}
	defer backend.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "no_upgrade", "this connection cannot be upgraded")
		return http.StatusInternalServerError
	}
	defer conn.Close()
	conn.SetDeadline(time.Time{}) // the server's deadlines are for requests
	proto := res.Header.Get("Upgrade")
	removeHopHeaders(res.Header)
	res.Header.Set("Connection", "Upgrade")
	res.Header.Set("Upgrade", proto)
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\n")
	res.Header.Write(brw)
	brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		return http.StatusSwitchingProtocols
	}
	g := p.metrics.websockets.WithLabelValues(up.base)
	g.Inc()
	defer g.Dec()
	done := make(chan struct{}, 2)
	go func() { io.Copy(backend, brw); done <- struct{}{} }() // brw: bytes the client sent early
	go func() { io.Copy(conn, backend); done <- struct{}{} }()
	<-done // one side closed: close both (deferred), which ends the other copy
	return http.StatusSwitchingProtocols
}

// countedBody calls done once, when the body is closed.
type countedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *countedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyResponse writes res to w and closes its body.
func (p *Proxy) copyResponse(w http.ResponseWriter, res *http.Response, up *Upstream) {
	defer res.Body.Close()
	removeHopHeaders(res.Header)
	h := w.Header()
	for k, v := range res.Header {
		h[k] = v
	}
	w.WriteHeader(res.StatusCode)
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	if _, err := io.CopyBuffer(w, res.Body, *buf); err != nil && !errors.Is(err, context.Canceled) {
		p.log.Debug("copying a response", "upstream", up.base, "err", err)
	}
}

// newTransport is the gateway's client of the compute nodes: many idle
// connections per node (the gateway multiplexes every client onto them),
// a short dial timeout so a dead node is found fast.
func newTransport(dialTimeout time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
