package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// tlsGateway is the setting of the TLS tests: a program (startProgram),
// a pebble issuing certificates valid for the given seconds, and the
// configuration of a gateway using it, with its listeners bound.
type tlsGateway struct {
	prog          program
	pebble        *testPebble
	rc            RoleConfig
	httpLn, tlsLn net.Listener
	root          *x509.CertPool
}

func startTLSGateway(t *testing.T, validity int) tlsGateway {
	t.Helper()
	g := tlsGateway{prog: startProgram(t)}
	var err error
	if g.httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if g.tlsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	_, httpPort, _ := net.SplitHostPort(g.httpLn.Addr().String())
	g.pebble = startPebble(t, g.prog.dns.addr, httpPort, validity)
	g.rc = RoleConfig{CoreURL: g.prog.core, DNSServer: g.prog.dns.addr, Listener: g.httpLn, TLSListener: g.tlsLn,
		ACMECA: g.pebble.dir, ACMECARoots: g.pebble.caFile, CertDir: t.TempDir(), ACMEEmail: "test@example.test", DNSCacheSize: 50}
	g.root = g.pebble.root(t)
	return g
}

// TestRenewal: a short-lived certificate (30 s) is renewed before it
// expires, at a handshake in its renewal window.
func TestRenewal(t *testing.T) {
	tg := startTLSGateway(t, 30)
	// A name of its own: certmagic waits on obtains of a name
	// process-wide, and this test's last renewal may outlive its pebble.
	tg.prog.dns.setTXT("renew.example.test", testHash)
	gw := startGateway(t, tg.rc)
	waitUpstreams(t, gw, testHash, 1)
	serial := func() string {
		conn, err := tls.Dial("tcp", tg.tlsLn.Addr().String(), &tls.Config{ServerName: "renew.example.test", RootCAs: tg.root})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := serial()
	deadline := time.Now().Add(2 * time.Minute)
	for serial() == first {
		if time.Now().After(deadline) {
			t.Fatalf("the certificate was not renewed (%d orders)", tg.pebble.orders.Load())
		}
		time.Sleep(500 * time.Millisecond)
	}
	m := gw.proxy.metrics.certificates
	t.Logf("renewed after %d ACME orders, %v renewals", tg.pebble.orders.Load(), testutil.ToFloat64(m.WithLabelValues("renewed")))
	if r := testutil.ToFloat64(m.WithLabelValues("renewed")); r < 1 || tg.pebble.orders.Load() < 2 {
		t.Errorf("renewed %v, %d orders", r, tg.pebble.orders.Load())
	}
}

// httpsClient dials addr for every host, checking certificates against
// roots.
func httpsClient(addr string, roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
		}}
}

// TestHTTPS: a custom domain whose TXT record names a program gets a
// certificate from a real ACME server (pebble) at its first HTTPS request,
// verified against pebble's root; hosts without the proof fail the
// handshake and make no ACME order; HTTP redirects to HTTPS; a restarted
// gateway serves the stored certificate without a new order.
func TestHTTPS(t *testing.T) {
	tg := startTLSGateway(t, 7776000)
	p, rc, tlsLn, httpLn, root := tg.pebble, tg.rc, tg.tlsLn, tg.httpLn, tg.root
	gw, stop := runGateway(t, rc)
	defer stop()
	waitUpstreams(t, gw, testHash, 1)
	c := httpsClient(tlsLn.Addr().String(), root)

	res, err := c.Get("https://app.example.test/hello")
	if err != nil {
		t.Fatalf("first HTTPS request: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(string(body), "A /vm/"+testHash+"/hello ") {
		t.Fatalf("HTTPS: %d %q", res.StatusCode, body)
	}
	if n := p.orders.Load(); n != 1 {
		t.Fatalf("%d ACME orders after the first request, want 1", n)
	}
	m := gw.proxy.metrics.certificates
	if testutil.ToFloat64(m.WithLabelValues("obtained")) != 1 {
		t.Errorf("certificates obtained: %v", testutil.ToFloat64(m.WithLabelValues("obtained")))
	}

	// No proof, no order: the handshake fails.
	for _, host := range []string{"evil.example.test", "nothash.gw.test", hostOf(t, strings.Repeat("cd", 32), "gw.test")} {
		if res, err := c.Get("https://" + host + "/"); err == nil {
			res.Body.Close()
			t.Errorf("%s: HTTPS answered %d, want a TLS failure", host, res.StatusCode)
		}
	}
	// A flood of random names, custom and in the zone: no order, and the
	// miss cache stays within its bound.
	var wg sync.WaitGroup
	for i := range 200 {
		name := fmt.Sprintf("r%d-%x.example.test", i, rand.Uint64())
		if i%2 == 1 {
			var h [32]byte
			binary.LittleEndian.PutUint64(h[:], rand.Uint64())
			name = hostOf(t, hex.EncodeToString(h[:]), "gw.test")
		}
		wg.Go(func() {
			conn, err := tls.Dial("tcp", tlsLn.Addr().String(), &tls.Config{ServerName: name, RootCAs: root})
			if err == nil {
				conn.Close()
				t.Errorf("%s: handshake succeeded", name)
			}
		})
		if i%20 == 19 {
			wg.Wait()
		}
	}
	wg.Wait()
	if n := p.orders.Load(); n != 1 {
		t.Errorf("%d ACME orders after hosts without proof, want 1", n)
	}
	if n := gw.proxy.txt.neg.len(); n > rc.DNSCacheSize {
		t.Errorf("%d cached misses, bound %d", n, rc.DNSCacheSize)
	}
	// The program's zone name is routed, so it gets a certificate too.
	res, err = c.Get("https://" + hostOf(t, testHash, "gw.test") + "/")
	if err != nil {
		t.Fatalf("zone host over HTTPS: %v", err)
	}
	res.Body.Close()
	if n := p.orders.Load(); n != 2 {
		t.Errorf("%d ACME orders, want 2", n)
	}

	// HTTP redirects to HTTPS.
	_, tlsPort, _ := net.SplitHostPort(tlsLn.Addr().String())
	req, _ := http.NewRequest(http.MethodGet, "http://"+httpLn.Addr().String()+"/x?y=1", nil)
	req.Host = "app.example.test"
	plain := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if want := "https://app.example.test:" + tlsPort + "/x?y=1"; res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != want {
		t.Errorf("redirect: %d %q, want 308 %q", res.StatusCode, res.Header.Get("Location"), want)
	}

	// A new gateway on the same certificate directory serves the stored
	// certificate: no order.
	stop()
	rc.Listener, rc.TLSListener = nil, nil
	rc.Listen, rc.TLSListen = "127.0.0.1:0", "127.0.0.1:0"
	gw2 := startGateway(t, rc)
	waitUpstreams(t, gw2, testHash, 1)
	res, err = httpsClient(gw2.TLSAddr().String(), p.root(t)).Get("https://app.example.test/again")
	if err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	res.Body.Close()
	if n := p.orders.Load(); res.StatusCode != 200 || n != 2 {
		t.Errorf("after a restart: %d, %d ACME orders, want 200 and 2", res.StatusCode, n)
	}
}
