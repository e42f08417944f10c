// Package pebble runs pebble, Let's Encrypt's ACME test server, as a local
// certificate authority: for the gateway's TLS tests and the devnet's
// gateway. The program is built once with go install from the module
// proxy into the user's cache directory (outside the module, so it adds
// nothing to go.mod), which needs the Go toolchain the first time.
package pebble

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Version is the pebble release run.
const Version = "v2.10.3"

var build struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of the pebble program, building it on first
// use (go install, bounded by ten minutes).
func Binary() (string, error) {
	build.once.Do(func() {
		dir, err := os.UserCacheDir()
		if err != nil {
			build.err = err
			return
		}
		bin := filepath.Join(dir, "goaleph", "pebble-"+Version)
		build.path = filepath.Join(bin, "pebble")
		if _, err := os.Stat(build.path); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "install", "github.com/letsencrypt/pebble/v2/cmd/pebble@"+Version)
		cmd.Dir = os.TempDir()
		cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("pebble %s (the ACME test server) cannot be built with go install: %w: %s", Version, err, out)
		}
	})
	return build.path, build.err
}

// Config configures a pebble.
type Config struct {
	// Dir holds its configuration, certificate and key (required).
	Dir string
	// DNSServer (host:port) resolves the names pebble validates.
	DNSServer string
	// HTTPPort is the port HTTP-01 challenges are checked on.
	HTTPPort int
	// Validity is how long the certificates it issues last (default 90
	// days).
	Validity time.Duration
}

// Server is a running pebble.
type Server struct {
	// DirURL is the ACME directory; MgmtURL the management API.
	DirURL, MgmtURL string
	// CAFile is the PEM of the certificate of pebble's own TLS (ACME
	// clients must trust it).
	CAFile string
	// Client trusts CAFile.
	Client *http.Client
	// Orders counts the orders pebble created (from its log).
	Orders atomic.Int64

	cancel context.CancelFunc
	cmd    *exec.Cmd
	logged chan struct{}
	mu     sync.Mutex
	log    []string
}

// Start runs pebble and returns once its directory answers (or after a
// minute, an error).
func Start(cfg Config) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if cfg.Validity <= 0 {
		cfg.Validity = 90 * 24 * time.Hour
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(cfg.Dir, "cert.pem"), filepath.Join(cfg.Dir, "key.pem")
	if err := writeSelfSigned(certFile, keyFile); err != nil {
		return nil, err
	}
	addrs, err := freeAddrs(2)
	if err != nil {
		return nil, err
	}
	listen, mgmt := addrs[0], addrs[1]
	c := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile, "httpPort": cfg.HTTPPort, "tlsPort": 5001,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
		"retryAfter": map[string]int{"authz": 1, "order": 1},
		"profiles": map[string]any{"default": map[string]any{"description": "goaleph",
			"validityPeriod": int(cfg.Validity / time.Second)}},
	}}
	b, _ := json.Marshal(c)
	cfgFile := filepath.Join(cfg.Dir, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-config", cfgFile, "-dnsserver", cfg.DNSServer)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	s := &Server{DirURL: "https://" + listen + "/dir", MgmtURL: "https://" + mgmt, CAFile: certFile,
		cancel: cancel, cmd: cmd, logged: make(chan struct{})}
	go s.readLog(out)
	roots := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(certFile)
	roots.AppendCertsFromPEM(pemBytes)
	s.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := s.Client.Get(s.DirURL)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("pebble does not answer at %s: %v\n%s", s.DirURL, err, strings.Join(s.Log(), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) readLog(out io.Reader) {
	defer close(s.logged)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "Added order") {
			s.Orders.Add(1)
		}
		s.mu.Lock()
		s.log = append(s.log, line)
		s.mu.Unlock()
	}
}

// Log returns pebble's log lines so far.
func (s *Server) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// Root returns the PEM of pebble's issuing root: the certificates it
// issues verify against it. Each run of pebble has a new root.
func (s *Server) Root(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.MgmtURL+"/roots/0", nil)
	if err != nil {
		return nil, err
	}
	res, err := s.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		return nil, fmt.Errorf("pebble root: %s: %.200q", res.Status, b)
	}
	return b, nil
}

// Close stops pebble and waits for it.
func (s *Server) Close() error {
	s.cancel()
	err := s.cmd.Wait()
	<-s.logged
	var ee *exec.ExitError
	if errors.As(err, &ee) { // killed, as asked
		return nil
	}
	return err
}

// freeAddrs returns n addresses of 127.0.0.1 free at the call (pebble
// takes addresses, not listeners).
func freeAddrs(n int) ([]string, error) {
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and
// localhost, and its key: pebble's own TLS.
func writeSelfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble (goaleph)"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}
