package gateway

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
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/testhttp"
)

// pebbleVersion is the ACME test server the TLS tests run, built once
// with go install into the user's cache directory (outside the module, so
// it adds nothing to go.mod).
const pebbleVersion = "v2.10.3"

var pebbleBuild struct {
	once sync.Once
	path string
	err  error
}

// pebbleBinary returns the path of the pebble program, building it on
// first use.
func pebbleBinary(t testing.TB) string {
	t.Helper()
	pebbleBuild.once.Do(func() {
		dir, err := os.UserCacheDir()
		if err != nil {
			pebbleBuild.err = err
			return
		}
		bin := filepath.Join(dir, "goaleph", "pebble-"+pebbleVersion)
		pebbleBuild.path = filepath.Join(bin, "pebble")
		if _, err := os.Stat(pebbleBuild.path); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "install", "github.com/letsencrypt/pebble/v2/cmd/pebble@"+pebbleVersion)
		cmd.Dir = os.TempDir()
		cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			pebbleBuild.err = &buildError{err: err, out: string(out)}
		}
	})
	if pebbleBuild.err != nil {
		t.Skipf("pebble %s (the ACME test server) cannot be built: %v", pebbleVersion, pebbleBuild.err)
	}
	return pebbleBuild.path
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// pebble is a running pebble ACME server.
type pebble struct {
	dir      string // ACME directory URL
	mgmt     string // management URL
	caFile   string // PEM of the certificate pebble's own TLS uses
	client   *http.Client
	orders   atomic.Int64 // orders pebble created (from its log)
	logMu    sync.Mutex
	logLines []string
}

// freeAddrs returns n addresses of 127.0.0.1 free at the call (pebble
// takes addresses, not listeners).
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// startPebble runs pebble, validating challenges against httpPort of the
// names dnsServer resolves, issuing certificates valid for validity
// seconds.
func startPebble(t testing.TB, dnsServer, httpPort string, validity int) *pebble {
	t.Helper()
	bin := pebbleBinary(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile)
	addrs := freeAddrs(t, 2)
	listen, mgmt := addrs[0], addrs[1]
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile, "httpPort": mustAtoi(t, httpPort), "tlsPort": 5001,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
		"retryAfter": map[string]int{"authz": 1, "order": 1},
		"profiles":   map[string]any{"default": map[string]any{"description": "test", "validityPeriod": validity}},
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-config", cfgFile, "-dnsserver", dnsServer)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pebble{dir: "https://" + listen + "/dir", mgmt: "https://" + mgmt, caFile: certFile}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		s := bufio.NewScanner(out)
		for s.Scan() {
			line := s.Text()
			if strings.Contains(line, "Added order") {
				p.orders.Add(1)
			}
			p.logMu.Lock()
			p.logLines = append(p.logLines, line)
			p.logMu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		<-logged
		if t.Failed() {
			p.logMu.Lock()
			t.Logf("pebble log:\n%s", strings.Join(p.logLines, "\n"))
			p.logMu.Unlock()
		}
	})
	roots := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(certFile)
	roots.AppendCertsFromPEM(pemBytes)
	p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := p.client.Get(p.dir)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble does not answer at %s: %v", p.dir, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// root returns pebble's issuing root CA, to check served certificates.
func (p *pebble) root(t testing.TB) *x509.CertPool {
	t.Helper()
	_, b := testhttp.Get(t, p.client, p.mgmt+"/roots/0")
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(b)) {
		t.Fatalf("pebble root: %q", b)
	}
	return pool
}

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and
// localhost and its key.
func writeSelfSigned(t testing.TB, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a port", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
