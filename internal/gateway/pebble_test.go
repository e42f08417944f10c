package gateway

import (
	"crypto/x509"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/pebble"
)

// testPebble is a running pebble ACME server (internal/pebble) of a test.
type testPebble struct {
	srv    *pebble.Server
	dir    string        // ACME directory URL
	caFile string        // PEM of the certificate pebble's own TLS uses
	orders *atomic.Int64 // orders pebble created
}

// startPebble runs pebble until the test ends, validating challenges
// against httpPort of the names dnsServer resolves, issuing certificates
// valid for validity seconds.
func startPebble(t testing.TB, dnsServer, httpPort string, validity int) *testPebble {
	t.Helper()
	port := 0
	for _, c := range httpPort {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a port", httpPort)
		}
		port = port*10 + int(c-'0')
	}
	srv, err := pebble.Start(pebble.Config{Dir: t.TempDir(), DNSServer: dnsServer, HTTPPort: port,
		Validity: time.Duration(validity) * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("pebble log:\n%s", strings.Join(srv.Log(), "\n"))
		}
	})
	return &testPebble{srv: srv, dir: srv.DirURL, caFile: srv.CAFile, orders: &srv.Orders}
}

// root returns pebble's issuing root CA, to check served certificates.
func (p *testPebble) root(t testing.TB) *x509.CertPool {
	t.Helper()
	b, err := p.srv.Root(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble root: %q", b)
	}
	return pool
}
