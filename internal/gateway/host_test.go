package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/goaleph/goaleph/internal/compute/crn"
)

const testHash = "b34f1934e4b6c2ad9f2c6b0d8d8e4bd5a3f62e1b0c5d7e8f9a0b1c2d3e4f5a6b"

func TestParseHost(t *testing.T) {
	label, err := crn.HostLabel(testHash)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		host, name string
		kind       hostKind
		hash       string
		bad        bool
	}{
		{host: label + ".gw.test", name: label + ".gw.test", kind: hostHash, hash: testHash},
		{host: strings.ToUpper(label) + ".GW.test.:443", name: label + ".gw.test", kind: hostHash, hash: testHash},
		{host: "gw.test", name: "gw.test", kind: hostZone},
		{host: "gw.test:8080", name: "gw.test", kind: hostZone},
		{host: "app.example.org", name: "app.example.org", kind: hostCustom},
		{host: "App.Example.org.", name: "app.example.org", kind: hostCustom},
		{host: "nothash.gw.test", bad: true},
		{host: "a." + label + ".gw.test", bad: true},
		{host: "127.0.0.1", bad: true},
		{host: "[::1]:80", bad: true},
		{host: "localhost", bad: true},
		{host: "", bad: true},
		{host: "a..b", bad: true},
		{host: "-a.b", bad: true},
		{host: "a b.c", bad: true},
		{host: strings.Repeat("a", 64) + ".b", bad: true},
		{host: strings.Repeat("a.", 127) + "bc", bad: true},
	} {
		p, err := parseHost(c.host, "gw.test")
		if c.bad {
			if !errors.Is(err, errBadHost) {
				t.Errorf("%q: %+v, %v; want errBadHost", c.host, p, err)
			}
			continue
		}
		if err != nil || p.name != c.name || p.kind != c.kind || p.hash != c.hash {
			t.Errorf("%q: %+v, %v; want %s kind %d hash %s", c.host, p, err, c.name, c.kind, c.hash)
		}
	}
}

func FuzzParseHost(f *testing.F) {
	label, _ := crn.HostLabel(testHash)
	for _, s := range []string{label + ".gw.test", "gw.test", "app.example.org:443", "[::1]:80", "a..b", "\x00.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		p, err := parseHost(host, "gw.test")
		if err != nil {
			return
		}
		if !validName(p.name) || len(p.name) > 253 || strings.ToLower(p.name) != p.name {
			t.Fatalf("%q gave invalid name %q", host, p.name)
		}
		if p.kind == hostHash {
			l, err := crn.HostLabel(p.hash)
			if err != nil || l+".gw.test" != p.name {
				t.Fatalf("%q: hash %s does not map back (%q, %v)", host, p.hash, l, err)
			}
		}
	})
}

func TestTXTResolver(t *testing.T) {
	d := startDNS(t)
	d.setTXT("app.example.test", " "+strings.ToUpper(testHash)+" ")
	d.setTXT("junk.example.test", "not a hash")
	r := NewTXTResolver(TXTResolverConfig{Server: d.addr, CacheSize: 4})
	clock := time.Now()
	r.now = func() time.Time { return clock }
	ctx := context.Background()

	if h, err := r.Program(ctx, "app.example.test"); err != nil || h != testHash {
		t.Fatalf("app: %q, %v", h, err)
	}
	for _, name := range []string{"junk.example.test", "missing.example.test"} {
		if _, err := r.Program(ctx, name); !errors.Is(err, ErrNoProgram) {
			t.Fatalf("%s: %v, want ErrNoProgram", name, err)
		}
	}
	if n := d.queries.Load(); n != 3 {
		t.Fatalf("%d queries, want 3", n)
	}
	// Cached: the answer for its TTL (300 s), the miss for the SOA's
	// negative TTL (30 s).
	for range 10 {
		r.Program(ctx, "app.example.test")
		r.Program(ctx, "missing.example.test")
	}
	if n := d.queries.Load(); n != 3 {
		t.Fatalf("%d queries after cached lookups, want 3", n)
	}
	clock = clock.Add(31 * time.Second)
	d.setTXT("missing.example.test", testHash)
	if h, err := r.Program(ctx, "missing.example.test"); err != nil || h != testHash {
		t.Fatalf("after the negative TTL: %q, %v", h, err)
	}
	r.Program(ctx, "app.example.test")
	if n := d.queries.Load(); n != 4 {
		t.Fatalf("%d queries, want 4 (the miss expired, the answer not)", n)
	}
	clock = clock.Add(300 * time.Second)
	r.Program(ctx, "app.example.test")
	if n := d.queries.Load(); n != 5 {
		t.Fatalf("%d queries, want 5 (the answer expired)", n)
	}

	// A flood of names: the caches stay bounded; concurrent lookups of
	// one name share one query.
	for i := range 100 {
		r.Program(ctx, fmt.Sprintf("r%d.example.test", i))
	}
	if r.neg.len() > 4 || r.pos.len() > 4 {
		t.Fatalf("caches hold %d and %d entries, bound 4", r.pos.len(), r.neg.len())
	}
	before := d.queries.Load()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { r.Program(ctx, "storm.example.test") })
	}
	wg.Wait()
	if n := d.queries.Load() - before; n < 1 || n > 2 {
		t.Fatalf("%d queries for 50 concurrent lookups of one name", n)
	}
}

func TestTXTResolverServerDown(t *testing.T) {
	r := NewTXTResolver(TXTResolverConfig{Server: "127.0.0.1:1", Timeout: 200 * time.Millisecond})
	if _, err := r.Program(context.Background(), "app.example.test"); !errors.Is(err, ErrNoProgram) {
		t.Fatalf("%v, want ErrNoProgram", err)
	}
}

// FuzzTXTAnswer: any DNS reply gives a hash of 64 hex digits or
// ErrNoProgram, and a TTL within the bounds.
func FuzzTXTAnswer(f *testing.F) {
	for _, txt := range []string{testHash, "junk", ""} {
		m := new(dns.Msg)
		m.SetQuestion("_aleph-id.app.example.test.", dns.TypeTXT)
		m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: m.Question[0].Name, Rrtype: dns.TypeTXT,
			Class: dns.ClassINET, Ttl: 60}, Txt: []string{txt}})
		b, _ := m.Pack()
		f.Add(b)
	}
	r := NewTXTResolver(TXTResolverConfig{Server: "127.0.0.1:1"})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if m.Unpack(b) != nil {
			return
		}
		hash, ttl, err := r.answer("_aleph-id.app.example.test", m, parseHashTXT)
		if ttl < r.cfg.MinTTL && ttl != r.cfg.ErrorTTL || ttl > r.cfg.MaxTTL {
			t.Fatalf("ttl %v out of bounds", ttl)
		}
		if err == nil && !isHexHash(hash) {
			t.Fatalf("hash %q", hash)
		}
		if err != nil && !errors.Is(err, ErrNoProgram) {
			t.Fatalf("error %v", err)
		}
	})
}
