// Package api serves the Aleph HTTP API (v0/v1) and the WebSocket message
// feed over the core node's services. Handlers are thin: parsing, status
// codes and response shapes here, semantics in internal/node.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// Node is what the API needs from the core node.
type Node interface {
	// Submit ingests a message: it is durable (processed, pending or
	// rejected) when Submit returns with a status. With wait, the status
	// is the result of the first processing attempt (processed, rejected,
	// forgotten, or pending when the message waits); without, it is
	// pending. A rejection also returns the *message.Error. An empty
	// status means nothing was stored.
	Submit(ctx context.Context, m *message.Message, origin string, wait bool) (store.Status, error)
	// VerifySignature checks m's signature now.
	VerifySignature(m *message.Message) error
	// Subscribe returns processed messages as they are applied until
	// cancel is called. A subscriber that does not keep up loses messages.
	Subscribe(buffer int) (ch <-chan *store.Record, cancel func())
	// PinUpload records an unauthenticated upload with its grace period.
	PinUpload(ctx context.Context, f files.Info) error
}

// Limits are the upload limits (spec §9.4).
type Limits struct {
	MaxFileSize            int64 // authenticated uploads
	MaxUnauthenticatedSize int64
	MaxIPFSFileSize        int64
	MaxCARSize             int64
	MaxBodySize            int64 // JSON request bodies
}

// DefaultLimits are the reference node's defaults.
var DefaultLimits = Limits{
	MaxFileSize:            100 << 20,
	MaxUnauthenticatedSize: 25 << 20,
	MaxIPFSFileSize:        1 << 30,
	MaxCARSize:             4 << 30,
	MaxBodySize:            1 << 20,
}

// Config configures a Server.
type Config struct {
	Node     Node
	Store    store.Reader
	Files    *files.Store
	Limits   Limits
	Version  string
	Registry *prometheus.Registry // served at /metrics; nil for none
	Logger   *slog.Logger
	// MaxWebsockets caps the open /api/ws0 connections (0:
	// DefaultMaxWebsockets).
	MaxWebsockets int
	// VirtualAggregates returns the aggregates of address (among keys;
	// none: all) that the node computes instead of storing, such as the
	// node registry's corechannel; they replace stored ones of the same
	// key. Nil for none.
	VirtualAggregates func(ctx context.Context, address string, keys []string) ([]store.Aggregate, error)
}

// Server is the HTTP API. It implements http.Handler.
type Server struct {
	cfg Config
	mux *http.ServeMux
	log *slog.Logger
	ws  *wsHub

	jsonSlots chan struct{} // add_json requests in progress (acquireJSON)
}

// New builds a Server.
func New(cfg Config) *Server {
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger, ws: newWSHub(cfg.MaxWebsockets),
		jsonSlots: make(chan struct{}, maxConcurrentJSON)}
	s.routes()
	return s
}

// ServeHTTP serves a request, with CORS headers as the reference node.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, HEAD, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "*")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// writeJSON writes v as JSON with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	w.Write(b)
}

// apiError is the JSON error body: {"error": "...", "error_code": n?}.
type apiError struct {
	Error     string        `json:"error"`
	ErrorCode *message.Code `json:"error_code,omitempty"`
}

// fail writes an error response. Server-side failures (500) are logged and
// their text is not leaked. An unreachable database (store.ErrUnavailable)
// or a node that cannot store now (ErrUnavailable) is a 503 with
// Retry-After, not logged per request: the node logs the outage once.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	if code >= 500 && (errors.Is(err, store.ErrUnavailable) || errors.Is(err, ErrUnavailable)) {
		s.log.Debug("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg := err.Error() // composed by the node: nothing to hide
		if errors.Is(err, store.ErrUnavailable) {
			msg = "database unavailable, retry later"
		}
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: msg})
		return
	}
	if code >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSON(w, code, apiError{Error: http.StatusText(code)})
		return
	}
	body := apiError{Error: err.Error()}
	var me *message.Error
	if errors.As(err, &me) {
		c := me.Code
		body.ErrorCode = &c
	}
	writeJSON(w, code, body)
}

// listParam splits a comma-separated query parameter of q; repeated
// parameters and the "name[]" form are accepted too.
func listParam(q url.Values, name string) []string {
	var out []string
	for _, key := range []string{name, name + "[]"} {
		for _, v := range q[key] {
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
		}
	}
	return out
}
