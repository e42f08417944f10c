package crn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/goaleph/goaleph/chain"
	_ "github.com/goaleph/goaleph/chain/eth" // registers the ETH verifier
	_ "github.com/goaleph/goaleph/chain/sol" // registers the SOL verifier
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

// Owner operations (spec compute-node §5, §5.1): the owner of a program —
// the address of its PROGRAM content — stops, reboots and reads the logs of
// its execution on this node. A request carries two headers:
//
//	X-SignedPubKey:    {"payload": hex(JSON{"pubkey": <JWK P-256>, "alg": "ECDSA",
//	                    "domain", "address", "chain": "ETH"|"SOL", "expires": ISO 8601}),
//	                    "signature": <wallet signature>}
//	X-SignedOperation: {"payload": hex(JSON{"time": ISO 8601, "method", "domain", "path"}),
//	                    "signature": hex(ES256 raw r||s over the payload bytes)}
//
// The wallet signs an ephemeral P-256 key: ETH with EIP-191 personal_sign
// over the payload bytes, SOL with ed25519 over the payload's hex text. The
// ephemeral key signs each operation: time within ±2 minutes of the node's
// clock, domain equal to the node's Config.Domain, method and path equal to
// the request's. Missing or invalid headers get 401, a valid signature of
// another address than the program's owner 403, a program without an
// execution here 404. Delegation through the owner's "security" aggregate
// is not supported.

// Owner authentication headers.
const (
	HeaderSignedPubKey    = client.HeaderSignedPubKey
	HeaderSignedOperation = client.HeaderSignedOperation
)

// ownerClockSkew is how far an operation's time may be from the node's.
const ownerClockSkew = 2 * time.Minute

type signedEnvelope struct {
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

type signedPubKey struct {
	PubKey  jwk    `json:"pubkey"`
	Alg     string `json:"alg"`
	Domain  string `json:"domain"`
	Address string `json:"address"`
	Chain   string `json:"chain"`
	Expires string `json:"expires"`
}

type signedOperation struct {
	Time   string `json:"time"`
	Method string `json:"method"`
	Domain string `json:"domain"`
	Path   string `json:"path"`
}

// OwnerHeaders returns the two owner authentication headers of one
// operation (method, path) on the node of domain, signed by s: a fresh
// P-256 key, valid for ttl, signed by s, signs the operation. It is
// client.OwnerHeaders, the client side of authenticateOwner.
func OwnerHeaders(s message.Signer, domain, method, path string, ttl time.Duration) (http.Header, error) {
	return client.OwnerHeaders(s, domain, method, path, ttl)
}

// parseISOTime reads an ISO 8601 time; one without a zone is UTC.
func parseISOTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
}

// authenticateOwner checks the owner headers of an operation (method,
// path) and returns the authenticated address.
func (s *Server) authenticateOwner(pubKeyHeader, opHeader, method, path string) (string, error) {
	if pubKeyHeader == "" || opHeader == "" {
		return "", errors.New("missing " + HeaderSignedPubKey + " or " + HeaderSignedOperation + " header")
	}
	var pkEnv, opEnv signedEnvelope
	if json.Unmarshal([]byte(pubKeyHeader), &pkEnv) != nil || json.Unmarshal([]byte(opHeader), &opEnv) != nil {
		return "", errors.New("malformed signature header")
	}
	pkBytes, err := hex.DecodeString(pkEnv.Payload)
	if err != nil {
		return "", errors.New(HeaderSignedPubKey + ": the payload is not hex")
	}
	var pk signedPubKey
	if err := json.Unmarshal(pkBytes, &pk); err != nil {
		return "", errors.New(HeaderSignedPubKey + ": malformed payload")
	}
	if pk.Domain != s.cfg.Domain {
		return "", fmt.Errorf("%s: domain %q is not this node's", HeaderSignedPubKey, pk.Domain)
	}
	signed := pkBytes
	switch pk.Chain {
	case "ETH":
	case "SOL":
		signed = []byte(pkEnv.Payload)
	default:
		return "", fmt.Errorf("%s: unsupported chain %q", HeaderSignedPubKey, pk.Chain)
	}
	if err := chain.Verify(pk.Chain, pk.Address, signed, pkEnv.Signature); err != nil {
		return "", errors.New(HeaderSignedPubKey + ": invalid signature")
	}
	exp, err := parseISOTime(pk.Expires)
	if err != nil || time.Now().After(exp) {
		return "", errors.New(HeaderSignedPubKey + ": expired")
	}
	if pk.Alg != "ECDSA" || pk.PubKey.Kty != "EC" || pk.PubKey.Crv != "P-256" {
		return "", errors.New(HeaderSignedPubKey + ": the key is not an ECDSA P-256 key")
	}
	b64 := base64.RawURLEncoding
	x, errX := b64.DecodeString(strings.TrimRight(pk.PubKey.X, "="))
	y, errY := b64.DecodeString(strings.TrimRight(pk.PubKey.Y, "="))
	if errX != nil || errY != nil {
		return "", errors.New(HeaderSignedPubKey + ": malformed key")
	}
	key := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	if !key.Curve.IsOnCurve(key.X, key.Y) {
		return "", errors.New(HeaderSignedPubKey + ": the key is not on P-256")
	}

	opBytes, err := hex.DecodeString(opEnv.Payload)
	if err != nil {
		return "", errors.New(HeaderSignedOperation + ": the payload is not hex")
	}
	sig, err := hex.DecodeString(strings.TrimPrefix(opEnv.Signature, "0x"))
	if err != nil || len(sig) != 64 {
		return "", errors.New(HeaderSignedOperation + ": the signature is not 64 bytes of hex")
	}
	digest := sha256.Sum256(opBytes)
	if !ecdsa.Verify(key, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return "", errors.New(HeaderSignedOperation + ": invalid signature")
	}
	var op signedOperation
	if err := json.Unmarshal(opBytes, &op); err != nil {
		return "", errors.New(HeaderSignedOperation + ": malformed payload")
	}
	t, err := time.Parse(time.RFC3339Nano, op.Time)
	if err != nil {
		return "", errors.New(HeaderSignedOperation + ": time is not ISO 8601 with a zone")
	}
	if d := time.Since(t); d > ownerClockSkew || d < -ownerClockSkew {
		return "", errors.New(HeaderSignedOperation + ": time is too far from the node's clock")
	}
	if op.Domain != s.cfg.Domain {
		return "", fmt.Errorf("%s: domain %q is not this node's", HeaderSignedOperation, op.Domain)
	}
	if op.Method != method || op.Path != path {
		return "", fmt.Errorf("%s: signed for %s %s, not %s %s", HeaderSignedOperation, op.Method, op.Path, method, path)
	}
	return pk.Address, nil
}

// currentExecution returns the ready execution of hash, or nil. Under
// pool.mu.
func (p *pool) currentLocked(hash string) *execution {
	e := p.execs[hash]
	if e == nil {
		return nil
	}
	select {
	case <-e.ready:
	default:
		return nil
	}
	if e.err != nil {
		return nil
	}
	return e
}

// ownerAccess authenticates the request's owner headers against the owner
// of the program named by the path, writing the error answer if it fails.
func (s *Server) ownerAccess(w http.ResponseWriter, hash, pubKey, op, method, path string) (*execution, bool) {
	addr, err := s.authenticateOwner(pubKey, op, method, path)
	if err != nil {
		writeError(w, http.StatusUnauthorized, "Authentication failed: "+err.Error())
		return nil, false
	}
	if !isItemHash(hash) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid message reference: %q is not an item hash", hash))
		return nil, false
	}
	s.pool.mu.Lock()
	e := s.pool.currentLocked(hash)
	s.pool.mu.Unlock()
	if e == nil {
		writeError(w, http.StatusNotFound, "No execution of "+hash+" on this node")
		return nil, false
	}
	if !sameAddress(addr, e.prog.owner) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("%s is not the owner of %s", addr, hash))
		return nil, false
	}
	return e, true
}

// sameAddress compares addresses, hexadecimal ones without regard to case.
func sameAddress(a, b string) bool {
	if strings.HasPrefix(a, "0x") || strings.HasPrefix(a, "0X") {
		return strings.EqualFold(a, b)
	}
	return a == b
}

func (s *Server) ownerRequest(w http.ResponseWriter, r *http.Request) (*execution, bool) {
	return s.ownerAccess(w, r.PathValue("ref"), r.Header.Get(HeaderSignedPubKey), r.Header.Get(HeaderSignedOperation),
		r.Method, r.URL.Path)
}

// ownerRoutes registers the owner operations on m.
func (s *Server) ownerRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /control/machine/{ref}/stop", s.ownerStop)
	m.HandleFunc("POST /control/machine/{ref}/reboot", s.ownerReboot)
	m.HandleFunc("GET /control/machine/{ref}/logs", s.ownerLogs)
	m.HandleFunc("GET /control/machine/{ref}/stream_logs", s.ownerStreamLogs)
}

// stopExecution retires e (the next request prepares the program again)
// and stops it once its requests in flight are done. With unsupervise, a
// persistent program's supervision ends too.
func (s *Server) stopExecution(e *execution, unsupervise bool) {
	p := s.pool
	p.mu.Lock()
	if cancel := p.persistent[e.hash]; unsupervise && cancel != nil {
		cancel()
	}
	p.retireLocked(e)
	now := e.runs == 0
	p.mu.Unlock()
	if now {
		p.stop(e)
	}
}

func (s *Server) ownerStop(w http.ResponseWriter, r *http.Request) {
	if vi, ok := s.instanceOwner(w, r); !ok || vi != nil {
		if vi != nil {
			s.log.Info("instance stopped by its owner", "hash", vi.hash)
			s.instanceOp(w, vi, "Stopped", vi.m.Stop)
		}
		return
	}
	e, ok := s.ownerRequest(w, r)
	if !ok {
		return
	}
	s.log.Info("execution stopped by its owner", "hash", e.hash)
	s.stopExecution(e, true)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Stopped VM %s\n", e.hash)
}

func (s *Server) ownerReboot(w http.ResponseWriter, r *http.Request) {
	if vi, ok := s.instanceOwner(w, r); !ok || vi != nil {
		if vi != nil {
			s.log.Info("instance rebooted by its owner", "hash", vi.hash)
			s.instanceOp(w, vi, "Rebooted", vi.m.Reboot)
		}
		return
	}
	e, ok := s.ownerRequest(w, r)
	if !ok {
		return
	}
	s.log.Info("execution rebooted by its owner", "hash", e.hash)
	s.pool.mu.Lock()
	persistent := s.pool.isPersistentLocked(e.hash)
	s.pool.mu.Unlock()
	s.stopExecution(e, false)
	if !persistent { // a persistent program's supervisor starts it again
		ne, _, err := s.pool.acquire(r.Context(), e.hash)
		if err != nil {
			status, msg := statusOf(err)
			writeError(w, status, "Stopped, but the restart failed: "+msg)
			return
		}
		s.pool.release(ne)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Rebooted VM %s\n", e.hash)
}

// logEntry is one log line in the journald form of the reference's
// /logs route.
type logEntry struct {
	Identifier string `json:"SYSLOG_IDENTIFIER"`
	Message    string `json:"MESSAGE"`
	File       string `json:"file"`
	Timestamp  string `json:"__REALTIME_TIMESTAMP"` // µs since the epoch
}

func (s *Server) ownerLogs(w http.ResponseWriter, r *http.Request) {
	if vi, ok := s.instanceOwner(w, r); !ok || vi != nil {
		if vi != nil {
			writeJSON(w, http.StatusOK, instanceLogs(vi))
		}
		return
	}
	e, ok := s.ownerRequest(w, r)
	if !ok {
		return
	}
	lines := e.inst.Logs()
	out := make([]logEntry, len(lines))
	for i, l := range lines {
		out[i] = logEntry{Identifier: "vm-" + e.hash + "-" + l.Stream, Message: l.Text, File: l.Stream,
			Timestamp: strconv.FormatInt(l.Time.UnixMicro(), 10)}
	}
	writeJSON(w, http.StatusOK, out)
}

// streamLogsPoll is how often the live log stream looks for new lines.
var streamLogsPoll = 100 * time.Millisecond

// ownerStreamLogs streams an execution's log lines over a WebSocket. The
// client's first message is {"auth": {"X-SignedPubKey": {...},
// "X-SignedOperation": {...}}} (the headers' JSON as objects); the node
// answers {"status": "connected"} or {"status": "failed", "reason": …}, then
// sends {"type": "stdout"|"stderr"|"system", "message": …} for the lines
// so far and every new one, until the execution stops.
func (s *Server) ownerStreamLogs(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ctx := r.Context()
	fail := func(reason string) {
		b, _ := json.Marshal(map[string]string{"status": "failed", "reason": reason})
		conn.Write(ctx, websocket.MessageText, b)
		conn.Close(websocket.StatusPolicyViolation, "authentication failed")
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, hello1, err := conn.Read(rctx)
	cancel()
	if err != nil {
		return
	}
	var hello struct {
		Auth map[string]json.RawMessage `json:"auth"`
	}
	if json.Unmarshal(hello1, &hello) != nil || hello.Auth == nil {
		fail("the first message must be {\"auth\": {...}}")
		return
	}
	header := func(name string) string {
		v := hello.Auth[name]
		var str string
		if json.Unmarshal(v, &str) == nil { // also accept the header's text
			return str
		}
		return string(v)
	}
	rec := &statusRecorder{header: http.Header{}}
	e, ok := s.ownerAccess(rec, r.PathValue("ref"), header(HeaderSignedPubKey), header(HeaderSignedOperation),
		http.MethodGet, r.URL.Path)
	if !ok {
		fail(rec.body)
		return
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"status":"connected"}`)); err != nil {
		return
	}
	ctx = conn.CloseRead(ctx)
	var last time.Time
	first := true
	send := func() bool {
		for _, l := range e.inst.Logs() {
			if !first && !l.Time.After(last) {
				continue // sent already
			}
			b, _ := json.Marshal(map[string]string{"type": l.Stream, "message": l.Text})
			if conn.Write(ctx, websocket.MessageText, b) != nil {
				return false
			}
			if l.Time.After(last) {
				last = l.Time
			}
		}
		first = false
		return true
	}
	tick := time.NewTicker(streamLogsPoll)
	defer tick.Stop()
	for {
		if !send() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-e.inst.Done():
			if !send() {
				return
			}
			b, _ := json.Marshal(map[string]string{"type": "system", "message": "execution stopped"})
			conn.Write(ctx, websocket.MessageText, b)
			conn.Close(websocket.StatusNormalClosure, "execution stopped")
			return
		case <-tick.C:
		}
	}
}

// statusRecorder keeps the error message of an answer.
type statusRecorder struct {
	header http.Header
	status int
	body   string
}

func (r *statusRecorder) Header() http.Header { return r.header }
func (r *statusRecorder) WriteHeader(s int)   { r.status = s }
func (r *statusRecorder) Write(b []byte) (int, error) {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		r.body = e.Error
	} else {
		r.body = string(b)
	}
	return len(b), nil
}
