package crn

import (
	"context"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
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

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/message"
)

// Server is the compute node: its HTTP front, its pool of executions and
// its cache. It is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	cache   *cache
	pool    *pool
	metrics *metrics
	mux     *http.ServeMux
	started time.Time
	// reg knows the message-triggered and persistent programs
	// (reactor.go, persistent.go).
	reg          *registry
	persistentWG sync.WaitGroup
	// life is the context of the supervisions the scheduler asks for;
	// endLife cancels it, under pool.mu, when the node stops.
	life     context.Context
	endLife  context.CancelFunc
	announce *announcer // nil without Config.KeyFile
	alloc    *allocator // allocations.go
	inst     instances  // instances.go
	pay      *payments  // payment.go
}

// New returns a compute node. Run serves it; Handler gives its routes.
func New(cfg Config) (*Server, error) {
	if cfg.CoreURL == "" && cfg.Client == nil {
		return nil, errors.New("crn: a core node URL is required")
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("crn: a cache directory is required")
	}
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, started: time.Now()}
	s.life, s.endLife = context.WithCancel(context.Background())
	s.pool = newPool(s)
	s.metrics = newMetrics(s)
	s.reg = newRegistry(s)
	s.alloc = newAllocator(s)
	s.inst = instances{byID: map[string]*vmInstance{}, busy: map[string]bool{}}
	s.pay = newPayments(s)
	c, err := newCache(cfg.CacheDir, cfg.Client, cfg.MaxFileBytes, cfg.PrepareTimeout,
		func(result string) { s.metrics.downloads.WithLabelValues(result).Inc() })
	if err != nil {
		return nil, fmt.Errorf("crn: cache: %w", err)
	}
	s.cache = c
	if s.announce, err = newAnnouncer(&s.cfg); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// Run serves the node on ln until ctx ends, following the core node's
// message feed for updates. Then it drains: program requests get 503
// while those in flight finish (for up to Config.DrainTimeout), and every
// execution is stopped.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := s.cfg.HTTP.Server(s, context.WithoutCancel(ctx))
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if !s.cfg.NoWatch {
			s.watch(watchCtx)
		}
	}()
	paid := make(chan struct{})
	go func() {
		defer close(paid)
		if s.cfg.PaymentInterval > 0 {
			s.pay.run(watchCtx, s.cfg.PaymentInterval)
		}
	}()
	served := make(chan error, 1)
	go func() { served <- s.cfg.HTTP.Serve(srv, ln) }()
	s.announce.start(listenURL(ln))
	s.log.Info("compute node serving", "addr", ln.Addr().String(), "core", s.cfg.Client.BaseURL(), "domain", s.cfg.Domain)

	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	stopWatch()
	<-watched
	<-paid
	s.endSupervisions()
	s.reg.wg.Wait()       // events: their context ended with the watch
	s.persistentWG.Wait() // supervisors: likewise
	dctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	if derr := s.Drain(dctx); derr != nil {
		s.log.Warn("drain ended with requests in flight", "err", derr)
	}
	cancel()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	srv.Shutdown(sctx)
	cancel()
	s.Close()
	s.announce.close() // publishes the stopped executions
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.log.Info("compute node stopped")
	return err
}

// Drain refuses new program requests (503) and waits until the requests
// in flight are done or ctx ends.
func (s *Server) Drain(ctx context.Context) error { return s.pool.drain(ctx) }

// Close stops every execution. Requests still in flight fail.
func (s *Server) Close() {
	s.endSupervisions()
	s.pool.close()
	s.closeInstances()
}

// endSupervisions ends the supervisions started by the scheduler and
// refuses new ones.
func (s *Server) endSupervisions() {
	s.pool.mu.Lock()
	s.endLife()
	s.pool.mu.Unlock()
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /about/login", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"success": false})
	})
	m.HandleFunc("GET /about/executions/list", s.executionsList)
	m.HandleFunc("GET /v2/about/executions/list", s.executionsListV2)
	m.HandleFunc("GET /about/usage/system", s.usageSystem)
	m.HandleFunc("GET /status/check/fastapi", s.checkFastAPI)
	m.HandleFunc("GET /status/check/fastapi/legacy", s.checkFastAPI)
	m.HandleFunc("GET /status/check/version", s.checkVersion)
	m.HandleFunc("GET /status/config", s.statusConfig)
	m.Handle("GET /metrics", s.metricsHandler())
	s.ownerRoutes(m)    // owner.go
	s.instanceRoutes(m) // instances.go
	// The scheduler's allocations (allocations.go).
	m.HandleFunc("POST /control/allocations", s.allocations)
	notFound := func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not found")
	}
	m.HandleFunc("/about/", notFound)
	m.HandleFunc("/status/", notFound)
	m.HandleFunc("/control/", notFound)
	m.HandleFunc("/v2/", notFound)
	s.mux = m
}

// ServeHTTP routes a request: the node's own routes, /vm/{hash}{path},
// then a program named by the Host header (spec §1.3).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "aleph-vm/goaleph-"+s.cfg.Version)
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/vm/"):
		rest := path[len("/vm/"):]
		hash, sub, _ := strings.Cut(rest, "/")
		if !isItemHash(hash) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid message reference: %q is not an item hash", hash))
			return
		}
		s.serveProgram(w, r, hash, "/"+sub)
	case path == "/metrics", strings.HasPrefix(path, "/about/"), strings.HasPrefix(path, "/status/"),
		strings.HasPrefix(path, "/control/"), strings.HasPrefix(path, "/v2/"):
		s.mux.ServeHTTP(w, r)
	default:
		s.serveHost(w, r)
	}
}

// isItemHash reports whether h is a 64-hex item hash.
func isItemHash(h string) bool {
	return len(h) == 64 && message.ValidHash(h) && strings.IndexFunc(h, func(c rune) bool {
		return !('0' <= c && c <= '9' || 'a' <= c && c <= 'f')
	}) < 0
}

// serveHost serves a request whose Host names the program: the first label
// in base32, else the TXT record _aleph-id.<Host>.
func (s *Server) serveHost(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	if strings.EqualFold(name, s.cfg.Domain) {
		if r.URL.Path == "/" && r.Method == http.MethodGet {
			s.index(w, r)
			return
		}
		writeError(w, http.StatusNotFound, "Not found")
		return
	}
	label, _, _ := strings.Cut(name, ".")
	hash, ok := base32Hash(label)
	if !ok {
		if net.ParseIP(name) != nil || strings.EqualFold(name, "localhost") {
			writeError(w, http.StatusNotFound, fmt.Sprintf("No program at %s", host))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		txt, err := s.cfg.Resolver.LookupTXT(ctx, "_aleph-id."+host)
		cancel()
		if err != nil || len(txt) == 0 {
			writeError(w, http.StatusNotFound, fmt.Sprintf("No program at %s: no _aleph-id TXT record", host))
			return
		}
		hash = strings.TrimSpace(txt[0])
		if !isItemHash(hash) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("The _aleph-id record of %s is not an item hash", host))
			return
		}
	}
	s.serveProgram(w, r, hash, r.URL.Path)
}

// base32Hash decodes a host label as the base32 of a 32-byte hash (RFC
// 4648, lowercase, without padding) and returns the hash in hex.
func base32Hash(label string) (string, bool) {
	if len(label) != 52 {
		return "", false
	}
	b, err := base32.StdEncoding.DecodeString(strings.ToUpper(label) + "====")
	if err != nil || len(b) != 32 {
		return "", false
	}
	return hex.EncodeToString(b), true
}

// HashFromLabel returns the program hash (hex) that a host label names in
// base32, the first label of "<label>.<domain>" (the inverse of HostLabel).
func HashFromLabel(label string) (string, bool) { return base32Hash(label) }

// HostLabel returns the base32 label of a program hash, the first label
// of its host name "<label>.<domain>".
func HostLabel(hash string) (string, error) {
	b, err := hex.DecodeString(hash)
	if err != nil || len(b) != 32 {
		return "", fmt.Errorf("crn: %q is not an item hash", hash)
	}
	return strings.ToLower(strings.TrimRight(base32.StdEncoding.EncodeToString(b), "=")), nil
}

// dropped are the program response headers the node does not pass on
// (spec §1.3, plus the hop-by-hop ones and the length it sets itself).
var dropped = map[string]bool{"content-encoding": true, "transfer-encoding": true, "vary": true,
	"content-length": true, "connection": true, "keep-alive": true, "upgrade": true, "server": true}

// serveProgram runs one request on program hash (spec §1.3).
func (s *Server) serveProgram(w http.ResponseWriter, r *http.Request, hash, path string) {
	start := time.Now()
	code, cold, ran := http.StatusOK, false, false
	defer func() {
		s.metrics.requests.WithLabelValues(strconv.Itoa(code)).Inc()
		d := time.Since(start).Seconds()
		if cold {
			s.metrics.requestSeconds.WithLabelValues("cold").Observe(d)
			if ran {
				s.metrics.coldSeconds.Observe(d)
			}
		} else {
			s.metrics.requestSeconds.WithLabelValues("warm").Observe(d)
		}
	}()
	fail := func(status int, msg string) {
		code = status
		writeError(w, status, msg)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body larger than %d bytes", s.cfg.MaxBodyBytes))
		} else {
			fail(http.StatusBadRequest, "Cannot read the request body: "+err.Error())
		}
		return
	}
	e, c, err := s.pool.acquire(r.Context(), hash)
	cold = c
	if err != nil {
		status, msg := statusOf(err)
		fail(status, msg)
		return
	}
	defer s.pool.release(e)
	ran = true

	scope := &compute.Scope{Type: "http", Method: r.Method, Path: path, QueryString: r.URL.RawQuery, Body: body,
		Headers: [][2]string{{"host", r.Host}}}
	for name, values := range r.Header {
		for _, v := range values {
			scope.Headers = append(scope.Headers, [2]string{strings.ToLower(name), v})
		}
	}
	// The backend enforces resources.seconds; this deadline only guards
	// against a backend that would not.
	timeout := e.prog.content.timeout()
	ctx, cancel := context.WithTimeout(r.Context(), timeout+2*time.Second)
	resp, err := e.inst.Call(ctx, scope)
	cancel()
	if err != nil {
		switch {
		case errors.Is(err, compute.ErrTimeout), errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
			fail(http.StatusGatewayTimeout, "Program did not respond within resource.seconds")
		case errors.Is(err, compute.ErrExited):
			fail(http.StatusBadGateway, "Program failed: "+err.Error())
		case r.Context().Err() != nil:
			code = 499 // client went away
		default:
			fail(http.StatusBadGateway, "Program gave no valid response: "+err.Error())
		}
		return
	}
	h := w.Header()
	for _, kv := range resp.Headers {
		if !dropped[kv[0]] {
			h.Add(kv[0], kv[1])
		}
	}
	h.Set("Aleph-Program-ItemHash", hash)
	h.Set("Aleph-Program-Code-Ref", e.prog.codeRef)
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	code = resp.Status
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// writeError writes {"error": msg} with status.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
