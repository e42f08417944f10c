package client

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/goaleph/goaleph/message"
)

// CRN talks to one compute node (CRN) over its HTTP API, the one of the
// reference (aleph-vm) and of goaleph: the public lists, the notify
// endpoint that starts an instance, and the owner operations signed by
// the owner's account (stop, reboot, erase, logs). It is safe for
// concurrent use.
type CRN struct {
	c *Client // transport, user agent and error answers

	mu     sync.Mutex
	domain string
}

// CRNOption configures a CRN.
type CRNOption func(*CRN)

// WithCRNDomain sets the node's domain, named in the owner operations'
// signatures (default: the DOMAIN_NAME of the node's /status/config).
func WithCRNDomain(domain string) CRNOption { return func(n *CRN) { n.domain = domain } }

// WithCRNClient sets the options of the underlying HTTP client (for
// example WithHTTPClient, WithUserAgent).
func WithCRNClient(opts ...Option) CRNOption {
	return func(n *CRN) {
		for _, o := range opts {
			o(n.c)
		}
	}
}

// NewCRN returns a client of the compute node at baseURL (for example
// "http://127.0.0.1:4020").
func NewCRN(baseURL string, opts ...CRNOption) *CRN {
	n := &CRN{c: New(baseURL)}
	for _, o := range opts {
		o(n)
	}
	return n
}

// BaseURL returns the node's base URL, without trailing slash.
func (n *CRN) BaseURL() string { return n.c.base }

// Domain returns the domain the node expects in owner signatures: the one
// given with WithCRNDomain, else its DOMAIN_NAME at /status/config.
func (n *CRN) Domain(ctx context.Context) (string, error) {
	n.mu.Lock()
	d := n.domain
	n.mu.Unlock()
	if d != "" {
		return d, nil
	}
	var cfg struct {
		Domain *string `json:"DOMAIN_NAME"`
	}
	if err := n.c.getJSON(ctx, "/status/config", nil, &cfg); err != nil {
		return "", err
	}
	if cfg.Domain == nil || *cfg.Domain == "" {
		return "", fmt.Errorf("aleph: compute node %s has no DOMAIN_NAME at /status/config", n.c.base)
	}
	n.mu.Lock()
	n.domain = *cfg.Domain
	n.mu.Unlock()
	return *cfg.Domain, nil
}

// NotifyInstance asks the node to start the INSTANCE hash (POST
// /control/allocation/notify). The node reads the message from its core
// node, checks that it can run it (and, on the reference, its payment),
// then starts it; it returns once the VM started. A refusal is an *Error
// with the node's reason.
func (n *CRN) NotifyInstance(ctx context.Context, hash string) error {
	if !message.ValidHash(hash) {
		return fmt.Errorf("aleph: %q is not an item hash", hash)
	}
	body, _ := json.Marshal(map[string]string{"instance": hash})
	resp, b, err := n.c.postJSON(ctx, "/control/allocation/notify", body)
	if err != nil {
		return err
	}
	var out struct {
		Success bool              `json:"success"`
		Errors  map[string]string `json:"errors"`
	}
	_ = json.Unmarshal(b, &out)
	if resp.StatusCode/100 == 2 && out.Success {
		return nil
	}
	e := newError(resp, b)
	if msg := out.Errors[hash]; msg != "" {
		e.Message = msg
	}
	return e
}

// CRNExecution is one execution a node lists at /v2/about/executions/list.
type CRNExecution struct {
	// VMType is "instance", "persistent_program" or "microvm" (an
	// on-demand program).
	VMType string `json:"vm_type"`
	// Running tells whether the VM is up.
	Running bool `json:"running"`
	// Backend is the goaleph backend that runs it (absent on the
	// reference).
	Backend    string `json:"backend,omitempty"`
	Networking struct {
		IPv4 string `json:"ipv4_ip,omitempty"`
		IPv6 string `json:"ipv6_ip,omitempty"`
		// MappedPorts maps a guest port ("22") to its forward on the
		// node's host.
		MappedPorts map[string]MappedPort `json:"mapped_ports,omitempty"`
	} `json:"networking"`
}

// MappedPort is a guest port forwarded from the node's host.
type MappedPort struct {
	Host int  `json:"host"`
	TCP  bool `json:"tcp"`
	UDP  bool `json:"udp"`
}

// SSHPort is the host port forwarded to the execution's port 22, or 0.
func (e CRNExecution) SSHPort() int {
	if p, ok := e.Networking.MappedPorts["22"]; ok && p.TCP {
		return p.Host
	}
	return 0
}

// Executions lists the node's executions by item hash (GET
// /v2/about/executions/list).
func (n *CRN) Executions(ctx context.Context) (map[string]CRNExecution, error) {
	var out map[string]CRNExecution
	if err := n.c.getJSON(ctx, "/v2/about/executions/list", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Owner operations of CRN.Operate.
const (
	OpStop   = "stop"
	OpReboot = "reboot"
	OpErase  = "erase"
)

// Operate runs the owner operation op (OpStop, OpReboot, OpErase) on the
// execution of hash, signed by s, which must be its owner: POST
// /control/machine/<hash>/<op>. It returns the node's answer text
// ("Rebooted VM <hash>"). Stop and reboot keep an instance's disks; erase
// stops it and deletes them.
func (n *CRN) Operate(ctx context.Context, s message.Signer, op, hash string) (string, error) {
	switch op {
	case OpStop, OpReboot, OpErase:
	default:
		return "", fmt.Errorf("aleph: unknown compute node operation %q", op)
	}
	b, err := n.owner(ctx, s, http.MethodPost, hash, op)
	return strings.TrimSpace(string(b)), err
}

// LogEntry is one line of an execution's logs, in the journald form of
// the reference's /logs route.
type LogEntry struct {
	Identifier string `json:"SYSLOG_IDENTIFIER"`
	Message    string `json:"MESSAGE"`
	// File is the stream: "stdout", "stderr" or "system".
	File string `json:"file"`
	// Timestamp is microseconds since the epoch, in decimal.
	Timestamp string `json:"__REALTIME_TIMESTAMP"`
}

// Logs returns the logs of the execution of hash (GET
// /control/machine/<hash>/logs), signed by s, its owner: an instance's
// console, a program's output.
func (n *CRN) Logs(ctx context.Context, s message.Signer, hash string) ([]LogEntry, error) {
	b, err := n.owner(ctx, s, http.MethodGet, hash, "logs")
	if err != nil {
		return nil, err
	}
	var out []LogEntry
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("aleph: compute node %s: malformed logs: %w", n.c.base, err)
	}
	return out, nil
}

// owner sends the signed owner operation method /control/machine/<hash>/<op>.
func (n *CRN) owner(ctx context.Context, s message.Signer, method, hash, op string) ([]byte, error) {
	if !message.ValidHash(hash) {
		return nil, fmt.Errorf("aleph: %q is not an item hash", hash)
	}
	domain, err := n.Domain(ctx)
	if err != nil {
		return nil, err
	}
	path := "/control/machine/" + hash + "/" + op
	h, err := OwnerHeaders(s, domain, method, path, time.Minute)
	if err != nil {
		return nil, err
	}
	req, err := n.c.newRequest(ctx, method, path, nil, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := n.c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := readBody(resp)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, newError(resp, b)
	}
	return b, nil
}

// Owner authentication headers of the compute node's owner operations.
const (
	HeaderSignedPubKey    = "X-SignedPubKey"
	HeaderSignedOperation = "X-SignedOperation"
)

// OwnerHeaders returns the two headers that authenticate one owner
// operation (method, path) on the compute node of domain, as aleph-vm
// expects them (spec compute-node §5.1): a fresh P-256 key, valid for
// ttl, is signed by s (ETH: EIP-191 over the payload's bytes; SOL: over
// its hex text) and signs the operation (ES256, raw r||s):
//
//	X-SignedPubKey:    {"payload": hex(JSON{"pubkey": JWK, "alg": "ECDSA", "domain", "address", "chain", "expires"}), "signature"}
//	X-SignedOperation: {"payload": hex(JSON{"time", "method", "domain", "path"}), "signature"}
func OwnerHeaders(s message.Signer, domain, method, path string, ttl time.Duration) (http.Header, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	b64 := base64.RawURLEncoding
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y"`
	}
	pk, err := json.Marshal(struct {
		PubKey  jwk    `json:"pubkey"`
		Alg     string `json:"alg"`
		Domain  string `json:"domain"`
		Address string `json:"address"`
		Chain   string `json:"chain"`
		Expires string `json:"expires"`
	}{
		PubKey: jwk{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(key.X.FillBytes(make([]byte, 32))),
			Y: b64.EncodeToString(key.Y.FillBytes(make([]byte, 32)))},
		Alg: "ECDSA", Domain: domain, Address: s.Address(), Chain: s.Chain(), Expires: now.Add(ttl).Format(time.RFC3339),
	})
	if err != nil {
		return nil, err
	}
	pkHex := hex.EncodeToString(pk)
	signed := pk
	if s.Chain() == "SOL" {
		signed = []byte(pkHex)
	}
	pkSig, err := s.Sign(signed)
	if err != nil {
		return nil, err
	}
	op, err := json.Marshal(struct {
		Time   string `json:"time"`
		Method string `json:"method"`
		Domain string `json:"domain"`
		Path   string `json:"path"`
	}{Time: now.Format(time.RFC3339Nano), Method: method, Domain: domain, Path: path})
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(op)
	r, sv, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return nil, err
	}
	raw := append(r.FillBytes(make([]byte, 32)), sv.FillBytes(make([]byte, 32))...)
	h := http.Header{}
	for name, env := range map[string][2]string{
		HeaderSignedPubKey:    {pkHex, pkSig},
		HeaderSignedOperation: {hex.EncodeToString(op), hex.EncodeToString(raw)},
	} {
		var b bytes.Buffer
		_ = json.NewEncoder(&b).Encode(map[string]string{"payload": env[0], "signature": env[1]})
		h.Set(name, strings.TrimSpace(b.String()))
	}
	return h, nil
}
