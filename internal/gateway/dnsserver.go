package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"

	"github.com/goaleph/goaleph/internal/prom"
)

// Times of the zone's records.
const (
	zoneTTL         = 60 // A, AAAA, NS, SOA (seconds)
	zoneNegativeTTL = 5  // SOA minimum: how long a resolver may remember a miss
	challengeTTL    = 5  // a TXT record added through libdns without a TTL
)

// ZoneServer is an authoritative DNS server for the gateway's zone: the
// zone and every name under it (a wildcard) resolve to the gateway's
// addresses, and TXT records can be added and removed at run time through
// libdns's RecordAppender and RecordDeleter (certmagic's DNSProvider), so
// the gateway answers its own ACME DNS-01 challenges. It answers nothing
// outside the zone (REFUSED: it is no resolver). Safe for concurrent use.
type ZoneServer struct {
	zone string // lower case, with the final dot
	ns   string // the zone's name server: ns1.<zone>
	v4   []net.IP
	v6   []net.IP

	mu  sync.RWMutex
	txt map[string][]txtRecord // fqdn (lower case) → records

	onQuery func(qtype uint16, rcode int) // metrics hook, may be nil
}

type txtRecord struct {
	value string
	ttl   uint32
}

// NewZoneServer returns the server of zone, whose names resolve to addrs
// (IPv4 and IPv6 addresses; none: the names exist but have no address).
func NewZoneServer(zone string, addrs []net.IP) *ZoneServer {
	z := &ZoneServer{zone: dns.Fqdn(strings.ToLower(zone)), txt: map[string][]txtRecord{}}
	z.ns = "ns1." + z.zone
	for _, ip := range addrs {
		if v4 := ip.To4(); v4 != nil {
			z.v4 = append(z.v4, v4)
		} else if ip.To16() != nil {
			z.v6 = append(z.v6, ip)
		}
	}
	return z
}

// inZone reports whether name (lower case, fully qualified) is the zone
// or under it.
func (z *ZoneServer) inZone(name string) bool {
	return name == z.zone || strings.HasSuffix(name, "."+z.zone)
}

// ServeDNS answers one query (dns.Handler).
func (z *ZoneServer) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := z.answer(q)
	if z.onQuery != nil {
		var qtype uint16
		if len(q.Question) == 1 {
			qtype = q.Question[0].Qtype
		}
		z.onQuery(qtype, m.Rcode)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		// Over UDP, at most what the client takes (512 bytes without
		// EDNS0): the rest is cut, with TC set to ask again over TCP.
		size := dns.MinMsgSize
		if opt := q.IsEdns0(); opt != nil {
			size = max(size, int(opt.UDPSize()))
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

func (z *ZoneServer) answer(q *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	switch {
	case q.Opcode != dns.OpcodeQuery:
		m.SetRcode(q, dns.RcodeNotImplemented)
		return m
	case len(q.Question) != 1:
		m.SetRcode(q, dns.RcodeFormatError)
		return m
	}
	m.SetReply(q)
	m.RecursionAvailable = false
	question := q.Question[0]
	name := strings.ToLower(question.Name)
	if question.Qclass != dns.ClassINET && question.Qclass != dns.ClassANY || !z.inZone(name) {
		m.Rcode = dns.RcodeRefused
		return m
	}
	m.Authoritative = true
	hdr := func(t uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: question.Name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	z.mu.RLock()
	txts := z.txt[name]
	answers := make([]dns.RR, 0, len(txts))
	qt := question.Qtype
	all := qt == dns.TypeANY
	if qt == dns.TypeTXT || all {
		for _, r := range txts {
			answers = append(answers, &dns.TXT{Hdr: hdr(dns.TypeTXT, r.ttl), Txt: splitTXT(r.value)})
		}
	}
	z.mu.RUnlock()
	// A name holding TXT records exists on its own: the wildcard does not
	// give it addresses (RFC 4592).
	if len(txts) == 0 || name == z.zone {
		if qt == dns.TypeA || all {
			for _, ip := range z.v4 {
				answers = append(answers, &dns.A{Hdr: hdr(dns.TypeA, zoneTTL), A: ip})
			}
		}
		if qt == dns.TypeAAAA || all {
			for _, ip := range z.v6 {
				answers = append(answers, &dns.AAAA{Hdr: hdr(dns.TypeAAAA, zoneTTL), AAAA: ip})
			}
		}
	}
	if name == z.zone {
		if qt == dns.TypeSOA || all {
			answers = append(answers, z.soa())
		}
		if qt == dns.TypeNS || all {
			answers = append(answers, &dns.NS{Hdr: hdr(dns.TypeNS, zoneTTL), Ns: z.ns})
		}
	}
	m.Answer = answers
	if len(answers) == 0 { // NODATA: the name exists (wildcard), not this type
		m.Ns = []dns.RR{z.soa()}
	}
	return m
}

func (z *ZoneServer) soa() *dns.SOA {
	return &dns.SOA{Hdr: dns.RR_Header{Name: z.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: zoneTTL},
		Ns: z.ns, Mbox: "hostmaster." + z.zone, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: zoneNegativeTTL}
}

// splitTXT cuts a TXT value into the strings of at most 255 bytes a TXT
// record is made of.
func splitTXT(v string) []string {
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}

// errNotZone is the error of a libdns call about another zone, or of a
// record other than TXT.
var errNotZone = errors.New("gateway: the zone server holds TXT records of its own zone only")

// absolute is the lower-case fully qualified name of a libdns record
// name in zone, checked to be in the server's zone.
func (z *ZoneServer) absolute(zone, name string) (string, error) {
	if zone == "" {
		zone = z.zone
	}
	fqdn := strings.ToLower(libdns.AbsoluteName(name, dns.Fqdn(zone)))
	if !z.inZone(fqdn) {
		return "", fmt.Errorf("%w: %q", errNotZone, fqdn)
	}
	return fqdn, nil
}

// AppendRecords adds TXT records (libdns.RecordAppender). Other types
// are refused: the addresses are the server's configuration.
func (z *ZoneServer) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	type add struct {
		fqdn string
		rec  txtRecord
		out  libdns.Record
	}
	var adds []add
	for _, r := range recs {
		rr := r.RR()
		if rr.Type != "TXT" {
			return nil, fmt.Errorf("%w: a %s record", errNotZone, rr.Type)
		}
		fqdn, err := z.absolute(zone, rr.Name)
		if err != nil {
			return nil, err
		}
		ttl := uint32(challengeTTL)
		if rr.TTL > 0 {
			ttl = uint32(rr.TTL / time.Second)
		}
		adds = append(adds, add{fqdn, txtRecord{rr.Data, ttl},
			libdns.TXT{Name: rr.Name, TTL: time.Duration(ttl) * time.Second, Text: rr.Data}})
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	out := make([]libdns.Record, 0, len(adds))
	for _, a := range adds {
		z.txt[a.fqdn] = append(z.txt[a.fqdn], a.rec)
		out = append(out, a.out)
	}
	return out, nil
}

// DeleteRecords removes TXT records matching recs: by name, and by value
// and TTL when given (libdns.RecordDeleter).
func (z *ZoneServer) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	var deleted []libdns.Record
	for _, r := range recs {
		rr := r.RR()
		if rr.Type != "" && rr.Type != "TXT" {
			continue
		}
		fqdn, err := z.absolute(zone, rr.Name)
		if err != nil {
			continue
		}
		kept := z.txt[fqdn][:0]
		for _, t := range z.txt[fqdn] {
			if (rr.Data == "" || rr.Data == t.value) && (rr.TTL == 0 || uint32(rr.TTL/time.Second) == t.ttl) {
				deleted = append(deleted, libdns.TXT{Name: rr.Name, TTL: time.Duration(t.ttl) * time.Second, Text: t.value})
				continue
			}
			kept = append(kept, t)
		}
		if len(kept) == 0 {
			delete(z.txt, fqdn)
		} else {
			z.txt[fqdn] = kept
		}
	}
	return deleted, nil
}

// Serve answers over UDP on pc and TCP on ln until ctx ends; it closes
// both.
func (z *ZoneServer) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	servers := []*dns.Server{{PacketConn: pc, Handler: z}, {Listener: ln, Handler: z,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }}}
	errs := make(chan error, len(servers))
	var err error
	var running []*dns.Server
	for _, s := range servers {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { errs <- s.ActivateAndServe() }()
		select {
		case <-started:
			running = append(running, s)
			continue
		case err = <-errs:
		}
		break
	}
	if err == nil {
		select {
		case <-ctx.Done():
		case err = <-errs:
		}
	}
	for _, s := range running {
		s.Shutdown()
	}
	pc.Close()
	ln.Close()
	return err
}

// ListenDNS binds UDP and TCP on addr; with port 0, one port free for
// both.
func ListenDNS(addr string) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			break
		}
	}
	return nil, nil, lastErr
}

// startZoneDNS binds the zone DNS server of r's configuration, if any.
func (r *Role) startZoneDNS() error {
	rc := r.rc
	if rc.DNSListen == "" && rc.DNSConn == nil {
		return nil
	}
	var addrs []net.IP
	for _, a := range rc.DNSAddresses {
		ip := net.ParseIP(a)
		if ip == nil {
			return fmt.Errorf("gateway: DNS address %q is not an IP address", a)
		}
		addrs = append(addrs, ip)
	}
	r.dnsConn, r.dnsLn = rc.DNSConn, rc.DNSListener
	if r.dnsConn == nil {
		var err error
		if r.dnsConn, r.dnsLn, err = ListenDNS(rc.DNSListen); err != nil {
			return fmt.Errorf("gateway: DNS server: %w", err)
		}
	}
	if r.dnsLn == nil {
		r.dnsConn.Close()
		return errors.New("gateway: the DNS server needs a TCP listener as well as its UDP socket")
	}
	r.lns = append(r.lns, r.dnsLn)
	r.zone = NewZoneServer(rc.Zone, addrs)
	r.zoneQueries = prom.CounterVec("aleph_gateway_zone_dns_queries_total", "Queries the zone's DNS server answered, by type and response code.", "type", "rcode")
	r.reg.MustRegister(r.zoneQueries)
	r.zone.onQuery = func(qtype uint16, rcode int) {
		t, ok := dns.TypeToString[qtype]
		if !ok {
			t = "other" // bounded labels whatever a client sends
		}
		r.zoneQueries.WithLabelValues(t, dns.RcodeToString[rcode]).Inc()
	}
	return nil
}

// dnsAddr is where the zone's DNS server is reached from this host
// (host:port; an unspecified listening address is reached on loopback),
// "" without one.
func (r *Role) dnsAddr() string {
	if r.dnsConn == nil {
		return ""
	}
	a := r.dnsConn.LocalAddr().(*net.UDPAddr)
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
		if a.IP != nil && a.IP.To4() == nil {
			ip = net.IPv6loopback
		}
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
}

// DNSAddr is the UDP address of the zone's DNS server, nil without one.
func (r *Role) DNSAddr() net.Addr {
	if r.dnsConn == nil {
		return nil
	}
	return r.dnsConn.LocalAddr()
}
