package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// startZoneServer serves a ZoneServer of zone on a real UDP and TCP port
// until the test ends and returns its address.
func startZoneServer(t *testing.T, z *ZoneServer) string {
	t.Helper()
	pc, ln, err := ListenDNS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- z.Serve(ctx, pc, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("zone server: %v", err)
		}
	})
	return pc.LocalAddr().String()
}

// ask sends one query to addr over net ("udp" or "tcp").
func ask(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 10 * time.Second}
	r, _, err := c.Exchange(q, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", dns.TypeToString[qtype], name, network, err)
	}
	return r
}

// TestZoneServer: the zone's DNS server answers the zone and every name
// under it with its addresses, holds the TXT records added through
// libdns until they are deleted, says NODATA with the SOA for other
// types, and refuses names outside the zone — over UDP and TCP.
func TestZoneServer(t *testing.T) {
	z := NewZoneServer("GW.test.", []net.IP{net.ParseIP("192.0.2.7"), net.ParseIP("2001:db8::7")})
	addr := startZoneServer(t, z)
	for _, network := range []string{"udp", "tcp"} {
		for _, name := range []string{"gw.test", "Abc.gw.test", "a.b.c.gw.test"} {
			r := ask(t, network, addr, name, dns.TypeA)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.7" {
				t.Errorf("A %s over %s: %v", name, network, r)
			}
			r = ask(t, network, addr, name, dns.TypeAAAA)
			if len(r.Answer) != 1 || r.Answer[0].(*dns.AAAA).AAAA.String() != "2001:db8::7" {
				t.Errorf("AAAA %s over %s: %v", name, network, r)
			}
		}
	}
	r := ask(t, "udp", addr, "gw.test", dns.TypeSOA)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Hdr.Name != "gw.test." {
		t.Errorf("SOA: %v", r)
	}
	if r := ask(t, "udp", addr, "gw.test", dns.TypeNS); len(r.Answer) != 1 || r.Answer[0].(*dns.NS).Ns != "ns1.gw.test." {
		t.Errorf("NS: %v", r)
	}
	// NODATA: the name exists, not the type; the SOA says for how long.
	r = ask(t, "udp", addr, "_acme-challenge.gw.test", dns.TypeTXT)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].(*dns.SOA).Minttl != zoneNegativeTTL {
		t.Errorf("TXT before any record: %v", r)
	}
	for _, name := range []string{"example.org", "gw.test.example.org", "xgw.test"} {
		if r := ask(t, "udp", addr, name, dns.TypeA); r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
			t.Errorf("A %s outside the zone: %v", name, r)
		}
	}

	// libdns, as certmagic's DNS-01 solver calls it: two values at one
	// name (the zone's and the wildcard's challenges).
	ctx := t.Context()
	long := strings.Repeat("v", 300)
	added, err := z.AppendRecords(ctx, "gw.test.", []libdns.Record{
		libdns.RR{Type: "TXT", Name: "_acme-challenge", Data: "token-1", TTL: 30 * time.Second},
		libdns.RR{Type: "TXT", Name: "_acme-challenge", Data: long},
	})
	if err != nil || len(added) != 2 {
		t.Fatalf("AppendRecords: %v %v", added, err)
	}
	txts := func() []string {
		var out []string
		for _, rr := range ask(t, "tcp", addr, "_ACME-challenge.gw.test", dns.TypeTXT).Answer {
			out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
		}
		slices.Sort(out)
		return out
	}
	if got := txts(); !slices.Equal(got, []string{"token-1", long}) {
		t.Errorf("TXT: %q", got)
	}
	// The name holds TXT records now: the wildcard gives it no address.
	if r := ask(t, "udp", addr, "_acme-challenge.gw.test", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("A of the challenge name: %v", r)
	}
	for _, bad := range []libdns.Record{
		libdns.RR{Type: "TXT", Name: "_acme-challenge.example.org.", Data: "x"},
		libdns.RR{Type: "A", Name: "www", Data: "192.0.2.1"},
	} {
		if _, err := z.AppendRecords(ctx, "gw.test.", []libdns.Record{bad}); err == nil {
			t.Errorf("AppendRecords(%v) accepted", bad.RR())
		}
	}
	if _, err := z.AppendRecords(ctx, "example.org.", []libdns.Record{libdns.RR{Type: "TXT", Name: "_acme-challenge", Data: "x"}}); err == nil {
		t.Error("AppendRecords in another zone accepted")
	}
	deleted, err := z.DeleteRecords(ctx, "gw.test.", []libdns.Record{added[0]})
	if err != nil || len(deleted) != 1 || deleted[0].RR().Data != "token-1" {
		t.Fatalf("DeleteRecords: %v %v", deleted, err)
	}
	if got := txts(); !slices.Equal(got, []string{long}) {
		t.Errorf("TXT after a delete: %q", got)
	}
	if deleted, _ := z.DeleteRecords(ctx, "gw.test.", []libdns.Record{libdns.RR{Name: "_acme-challenge"}}); len(deleted) != 1 {
		t.Errorf("delete by name: %v", deleted)
	}
	if got := txts(); len(got) != 0 {
		t.Errorf("TXT after deleting all: %q", got)
	}

	// Answers too large for UDP are cut with TC set; TCP has them whole.
	var many []libdns.Record
	for i := range 20 {
		many = append(many, libdns.RR{Type: "TXT", Name: "_acme-challenge", Data: fmt.Sprintf("%02d%s", i, strings.Repeat("x", 60))})
	}
	if _, err := z.AppendRecords(ctx, "gw.test.", many); err != nil {
		t.Fatal(err)
	}
	q := new(dns.Msg)
	q.SetQuestion("_acme-challenge.gw.test.", dns.TypeTXT)
	udp := &dns.Client{Net: "udp", Timeout: 10 * time.Second}
	r, _, err = udp.Exchange(q, addr)
	if err != nil || !r.Truncated || len(r.Answer) >= 20 {
		t.Errorf("large answer over UDP: truncated %v, %d records, %v", r != nil && r.Truncated, len(r.Answer), err)
	}
	if got := txts(); len(got) != 20 {
		t.Errorf("large answer over TCP: %d records", len(got))
	}

	// Queries that are not one question of the zone.
	notify := new(dns.Msg)
	notify.SetNotify("gw.test.")
	if r, _, err := udp.Exchange(notify, addr); err != nil || r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: %v %v", r, err)
	}
	chaos := new(dns.Msg)
	chaos.SetQuestion("version.bind.", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	if r, _, err := udp.Exchange(chaos, addr); err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("CHAOS version.bind: %v %v", r, err)
	}
}

// FuzzZoneServer: any message the server can parse gets an answer it can
// pack, never more than one question's worth, and nothing outside the
// zone.
func FuzzZoneServer(f *testing.F) {
	for _, name := range []string{"gw.test.", "x.gw.test.", "example.org.", "_acme-challenge.gw.test."} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeANY, dns.TypeSOA} {
			q := new(dns.Msg)
			q.SetQuestion(name, qt)
			b, _ := q.Pack()
			f.Add(b)
		}
	}
	z := NewZoneServer("gw.test", []net.IP{net.ParseIP("192.0.2.7")})
	if _, err := z.AppendRecords(context.Background(), "gw.test.", []libdns.Record{libdns.RR{Type: "TXT", Name: "_acme-challenge", Data: "v"}}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		q := new(dns.Msg)
		if q.Unpack(b) != nil {
			return
		}
		m := z.answer(q)
		if _, err := m.Pack(); err != nil {
			t.Fatalf("answer does not pack: %v\n%v", err, m)
		}
		if len(m.Answer) > 0 {
			name := strings.ToLower(q.Question[0].Name)
			if !z.inZone(name) {
				t.Fatalf("answered %q outside the zone", name)
			}
		}
	})
}

// TestWildcardCertificate: a gateway serving its zone's DNS gets a
// wildcard certificate for the zone (and one for the zone itself) through
// DNS-01 from a real ACME server (pebble) that asks the gateway's DNS
// server; every program of the zone is then served under the wildcard
// with no order of its own.
func TestWildcardCertificate(t *testing.T) {
	z := startZoneGateway(t, "gw.test", 7776000)
	gw, p, root, tlsLn := z.gw, z.pebble, z.root, z.tlsLn
	host := hostOf(t, testHash, "gw.test")

	// The certificates come in the background.
	st := z.waitCertificates(t)
	if names := st.PeerCertificates[0].DNSNames; !slices.Equal(names, []string{"*.gw.test"}) {
		t.Errorf("certificate of %s names %v, want the wildcard", host, names)
	}
	res, err := httpsClient(tlsLn.Addr().String(), root).Get("https://" + host + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(string(body), "A /vm/"+testHash+"/hello ") {
		t.Errorf("HTTPS under the wildcard: %d %q", res.StatusCode, body)
	}
	// Any other name of the zone: the same certificate, no new order.
	for i := range 5 {
		var h [32]byte
		h[0] = byte(i + 1)
		st, err := z.handshake(t, hostOf(t, hex.EncodeToString(h[:]), "gw.test"))
		if err != nil {
			t.Fatalf("another zone name: %v", err)
		}
		if names := st.PeerCertificates[0].DNSNames; !slices.Equal(names, []string{"*.gw.test"}) {
			t.Errorf("another zone name got %v", names)
		}
	}
	if n := p.orders.Load(); n != 2 {
		t.Errorf("%d ACME orders, want 2 (the wildcard and the zone)", n)
	}
	if n := testutil.ToFloat64(gw.proxy.metrics.certificates.WithLabelValues("obtained")); n != 2 {
		t.Errorf("certificates obtained: %v, want 2", n)
	}
	// The challenges' records are gone.
	if r := ask(t, "udp", gw.DNSAddr().String(), "_acme-challenge.gw.test", dns.TypeTXT); len(r.Answer) != 0 {
		t.Errorf("challenge records left: %v", r.Answer)
	}
	if n := testutil.ToFloat64(gw.zoneQueries.WithLabelValues("TXT", "NOERROR")); n < 2 {
		t.Errorf("the zone's DNS server answered %v TXT queries, want pebble's 2 at least", n)
	}
}

// zoneGateway is the setting of the wildcard tests: a program
// (startProgram), and a gateway serving the DNS of zone, whose ACME CA
// (pebble, issuing certificates valid for validity seconds) resolves
// names with the gateway's DNS server.
type zoneGateway struct {
	zone   string
	gw     *Role
	pebble *testPebble
	root   *x509.CertPool
	tlsLn  net.Listener
}

func startZoneGateway(t *testing.T, zone string, validity int) *zoneGateway {
	return startZoneGatewayRenewing(t, zone, validity, 0)
}

// startZoneGatewayRenewing is startZoneGateway with certmagic looking for
// certificates to renew every renewCheck.
func startZoneGatewayRenewing(t *testing.T, zone string, validity int, renewCheck time.Duration) *zoneGateway {
	t.Helper()
	prog := startProgram(t)
	pc, dnsLn, err := ListenDNS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, httpPort, _ := net.SplitHostPort(httpLn.Addr().String())
	p := startPebble(t, pc.LocalAddr().String(), httpPort, validity)
	gw := startGateway(t, RoleConfig{CoreURL: prog.core, DNSServer: prog.dns.addr, Zone: zone, Listener: httpLn, TLSListener: tlsLn,
		DNSConn: pc, DNSListener: dnsLn, DNSAddresses: []string{"127.0.0.1"},
		ACMECA: p.dir, ACMECARoots: p.caFile, CertDir: t.TempDir(), ACMEEmail: "test@example.test", renewCheck: renewCheck})
	waitUpstreams(t, gw, testHash, 1)
	return &zoneGateway{zone: zone, gw: gw, pebble: p, root: p.root(t), tlsLn: tlsLn}
}

// handshake makes a TLS handshake for name, checked against pebble's
// root.
func (z *zoneGateway) handshake(t *testing.T, name string) (*tls.ConnectionState, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", z.tlsLn.Addr().String(),
		&tls.Config{ServerName: name, RootCAs: z.root})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	st := conn.ConnectionState()
	return &st, nil
}

// waitCertificates waits until the zone and a program name of it
// handshake, and returns the program name's connection state.
func (z *zoneGateway) waitCertificates(t *testing.T) *tls.ConnectionState {
	t.Helper()
	host := hostOf(t, testHash, z.zone)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := z.handshake(t, host)
		if err == nil {
			if _, err = z.handshake(t, z.zone); err == nil {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no zone certificate after 2 minutes (%d orders): %v", z.pebble.orders.Load(), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestWildcardRenewal: the zone's short-lived wildcard certificate (30 s)
// is renewed through DNS-01 too, by certmagic's maintenance (looking
// every second here; the renewal window is the last third of the
// lifetime), while handshakes go on.
func TestWildcardRenewal(t *testing.T) {
	z := startZoneGatewayRenewing(t, "renew.test", 30, time.Second)
	first := z.waitCertificates(t).PeerCertificates[0].SerialNumber.String()
	host := hostOf(t, testHash, z.zone)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := z.handshake(t, host)
		if err == nil && st.PeerCertificates[0].SerialNumber.String() != first {
			if names := st.PeerCertificates[0].DNSNames; !slices.Equal(names, []string{"*.renew.test"}) {
				t.Errorf("renewed certificate names %v", names)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the wildcard was not renewed (%d orders, last error %v)", z.pebble.orders.Load(), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	m := z.gw.proxy.metrics.certificates
	if r := testutil.ToFloat64(m.WithLabelValues("renewed")); r < 1 {
		t.Errorf("renewed %v", r)
	}
	if f := testutil.ToFloat64(m.WithLabelValues("failed")); f != 0 {
		t.Errorf("%v certificates failed", f)
	}
}
