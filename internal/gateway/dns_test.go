package gateway

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// testDNS is a real DNS server on 127.0.0.1 (miekg/dns over UDP) holding
// TXT records and A records, counting the queries it answers.
type testDNS struct {
	addr    string
	mu      sync.Mutex
	txt     map[string]string // fqdn → value
	a       map[string]net.IP // fqdn → address (every name: 127.0.0.1 when unset)
	ttl     uint32
	queries atomic.Int64
}

func startDNS(t testing.TB) *testDNS {
	t.Helper()
	// UDP and TCP on one port (pebble asks over TCP).
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	d := &testDNS{addr: pc.LocalAddr().String(), txt: map[string]string{}, a: map[string]net.IP{}, ttl: 300}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: d}, {Listener: ln, Handler: d}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return d
}

// setTXT sets the _aleph-id record of domain.
func (d *testDNS) setTXT(domain, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.txt[dns.Fqdn("_aleph-id."+domain)] = value
}

func (d *testDNS) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	d.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	d.mu.Lock()
	defer d.mu.Unlock()
	name := strings.ToLower(q.Question[0].Name)
	hdr := dns.RR_Header{Name: q.Question[0].Name, Class: dns.ClassINET, Ttl: d.ttl}
	switch q.Question[0].Qtype {
	case dns.TypeTXT:
		if v, ok := d.txt[name]; ok {
			hdr.Rrtype = dns.TypeTXT
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{v}})
		}
	case dns.TypeA:
		hdr.Rrtype = dns.TypeA
		ip := d.a[name]
		if ip == nil {
			ip = net.IPv4(127, 0, 0, 1)
		}
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip})
	}
	if len(m.Answer) == 0 && q.Question[0].Qtype == dns.TypeTXT {
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, &dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
			Ns: "ns.test.", Mbox: "admin.test.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 30})
	}
	w.WriteMsg(m)
}
