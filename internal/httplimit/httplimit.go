// Package httplimit bounds what a stranger can hold of an HTTP server we
// run (the core node's API, the compute node, later the gateway):
// timeouts on headers, bodies, responses and idle connections, a
// minimum rate for request bodies, a cap on request bodies in flight and
// an optional cap on connections per remote address.
//
// A whole-request read timeout would cut large uploads that are slow but
// legitimate, so bodies are held to a minimum rate instead: a body slower
// than MinBodyRate bytes per second, averaged over BodyRateWindow, fails
// and its connection is closed. Write deadlines are set per request, so a
// websocket or a long response can lift its own (see NoDeadlines).
package httplimit

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/goaleph/goaleph/internal/settings"
)

// Config holds the limits. The zero value of a field means its default
// (Defaults); a negative duration or count turns that limit off.
type Config struct {
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// WriteTimeout bounds writing a response, counted from the end of its
	// request body (or from the headers when there is none).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection waiting for its next
	// request.
	IdleTimeout time.Duration
	// MinBodyRate is the slowest a request body may arrive, in bytes per
	// second averaged over BodyRateWindow.
	MinBodyRate int64
	// BodyRateWindow is the window over which MinBodyRate is averaged: a
	// body that stalls is dropped within about this long.
	BodyRateWindow time.Duration
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
	// MaxBodies is how many requests with a body may be in flight at
	// once; more get 503 with Retry-After.
	MaxBodies int
	// MaxConnsPerIP caps the open connections from one remote address;
	// zero is no cap (the default: a node behind a reverse proxy sees
	// every client at one address).
	MaxConnsPerIP int
}

// Defaults are the limits of a field left zero.
var Defaults = Config{
	ReadHeaderTimeout: 10 * time.Second,
	WriteTimeout:      60 * time.Second,
	IdleTimeout:       30 * time.Second,
	MinBodyRate:       1024,
	BodyRateWindow:    20 * time.Second,
	MaxHeaderBytes:    64 << 10,
	MaxBodies:         256,
}

// withDefaults fills the zero fields from Defaults.
func (c Config) withDefaults() Config {
	settings.FillZero(&c, Defaults)
	return c
}

// positive is d, or 0 (Go's "no limit") when d is negative.
func positive(d time.Duration) time.Duration { return max(d, 0) }

// Server returns an http.Server serving h under the limits, with base as
// the parent of every request's context (nil: context.Background).
func (c Config) Server(h http.Handler, base context.Context) *http.Server {
	c = c.withDefaults()
	srv := &http.Server{
		Handler:           c.Handler(h),
		ReadHeaderTimeout: positive(c.ReadHeaderTimeout),
		IdleTimeout:       positive(c.IdleTimeout),
		MaxHeaderBytes:    max(c.MaxHeaderBytes, 0),
	}
	if base != nil {
		srv.BaseContext = func(net.Listener) context.Context { return base }
	}
	return srv
}

// Serve serves srv on ln, with the per-address cap of c applied to ln.
func (c Config) Serve(srv *http.Server, ln net.Listener) error {
	return srv.Serve(c.Listener(ln))
}

// Handler wraps h with the per-request limits: the body semaphore, the
// minimum body rate and the write deadline.
func (c Config) Handler(h http.Handler) http.Handler {
	c = c.withDefaults()
	var slots chan struct{}
	if c.MaxBodies > 0 {
		slots = make(chan struct{}, c.MaxBodies)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if isUpgrade(r) {
			// A websocket holds its connection for as long as it likes:
			// its handler keeps its own deadlines.
			h.ServeHTTP(w, r)
			return
		}
		c.extendWrite(rc)
		if !hasBody(r) {
			h.ServeHTTP(w, r)
			return
		}
		if slots != nil {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			default:
				// The server would drain up to 256 KiB of the unread
				// body after the answer, as slowly as the client sends
				// it: a read deadline in the past ends that at once.
				_ = rc.SetReadDeadline(time.Now())
				w.Header().Set("Connection", "close")
				w.Header().Set("Retry-After", "1")
				http.Error(w, `{"error":"too many uploads in progress, retry later"}`, http.StatusServiceUnavailable)
				return
			}
		}
		if c.MinBodyRate > 0 && c.BodyRateWindow > 0 {
			// A shallow copy: the server keeps seeing its own body, so
			// that a large body the handler left unread closes the
			// connection instead of being drained before the answer.
			r2 := new(http.Request)
			*r2 = *r
			r2.Body = newRateBody(r.Body, rc, c)
			r = r2
		}
		h.ServeHTTP(w, r)
	})
}

func (c Config) extendWrite(rc *http.ResponseController) {
	if c.WriteTimeout > 0 {
		_ = rc.SetWriteDeadline(time.Now().Add(c.WriteTimeout))
	}
}

// NoDeadlines lifts the read and write deadlines of w's connection, for a
// handler that streams for longer than the write timeout (a websocket
// before it upgrades, a long-poll). The handler must then bound its own
// writes.
func NoDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
}

func isUpgrade(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" && strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// ErrSlowBody is the error of a request body slower than the minimum rate.
var ErrSlowBody = errors.New("request body slower than the minimum rate")

// rateBody is a request body held to a minimum rate. Each window must
// bring rate × window bytes, checked when a read ends the window; the
// connection's read deadline is kept a window ahead of the last bytes, so
// a body that stalls fails at it.
type rateBody struct {
	body   io.ReadCloser
	rc     *http.ResponseController
	cfg    Config
	need   int64     // bytes per window
	start  time.Time // of the current window
	got    int64     // bytes in the current window
	moved  time.Time // when the read deadline was last pushed
	err    error
	closed sync.Once
}

func newRateBody(body io.ReadCloser, rc *http.ResponseController, c Config) *rateBody {
	now := time.Now()
	b := &rateBody{body: body, rc: rc, cfg: c, start: now, moved: now,
		need: c.MinBodyRate * int64(c.BodyRateWindow) / int64(time.Second)}
	_ = rc.SetReadDeadline(b.start.Add(c.BodyRateWindow))
	return b
}

func (b *rateBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.body.Read(p)
	b.got += int64(n)
	now := time.Now()
	if errors.Is(err, io.EOF) {
		b.done()
		return n, err
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			b.fail()
			return n, b.err
		}
		return n, err
	}
	if now.Sub(b.start) >= b.cfg.BodyRateWindow {
		if b.got < b.need {
			b.fail()
			return n, b.err
		}
		b.start, b.got = now, 0
	}
	if n > 0 && now.Sub(b.moved) > b.cfg.BodyRateWindow/8 {
		b.moved = now
		_ = b.rc.SetReadDeadline(now.Add(b.cfg.BodyRateWindow))
	}
	return n, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// fail ends the body: later reads fail at once, so the server cannot
// drain the rest and closes the connection after the response.
func (b *rateBody) fail() {
	b.err = ErrSlowBody
	_ = b.rc.SetReadDeadline(time.Now())
}

// done lifts the read deadline once the body is read and starts the
// response's write timeout.
func (b *rateBody) done() {
	b.closed.Do(func() {
		_ = b.rc.SetReadDeadline(time.Time{})
		b.cfg.extendWrite(b.rc)
	})
}

func (b *rateBody) Close() error { return b.body.Close() }
