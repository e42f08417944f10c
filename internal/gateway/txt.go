package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"

	"github.com/goaleph/goaleph/internal/compute/crn"
)

// ErrNoProgram is the error of a custom domain without a usable
// _aleph-id TXT record (none, not an item hash, or the lookup failed).
var ErrNoProgram = errors.New("gateway: no _aleph-id TXT record naming a program")

// Defaults of the TXT resolver.
const (
	DefaultMinTTL      = 5 * time.Second  // shortest a positive answer is kept
	DefaultMaxTTL      = 10 * time.Minute // longest an answer is kept
	DefaultNegativeTTL = time.Minute      // a miss without an SOA to say otherwise
	DefaultErrorTTL    = 5 * time.Second  // a failed lookup (timeout, SERVFAIL)
	DefaultCacheSize   = 10000            // entries in each cache
	DefaultDNSTimeout  = 2 * time.Second
)

// TXTResolverConfig configures a TXTResolver. Zero fields take the
// defaults above.
type TXTResolverConfig struct {
	// Server is the DNS server asked, host:port (default: the first
	// nameserver of /etc/resolv.conf, else 127.0.0.1:53).
	Server string
	// MinTTL and MaxTTL clamp the TTL of positive answers; NegativeTTL
	// bounds a miss (the SOA's negative TTL when smaller, RFC 2308);
	// ErrorTTL is how long a failed lookup is remembered.
	MinTTL, MaxTTL, NegativeTTL, ErrorTTL time.Duration
	// CacheSize bounds each of the positive and negative caches.
	CacheSize int
	// Timeout bounds one query.
	Timeout time.Duration
}

// TXTResolver finds the program a custom domain names in its
// "_aleph-id.<domain>" TXT record, with caches of answers and of misses
// that honour the records' TTLs. Concurrent lookups of one name share one
// query. Safe for concurrent use.
type TXTResolver struct {
	cfg     TXTResolverConfig
	client  *dns.Client
	pos     *ttlCache[string]
	neg     *ttlCache[struct{}]
	group   singleflight.Group
	now     func() time.Time
	onQuery func(found bool) // metrics hook, may be nil
}

// NewTXTResolver returns a resolver asking cfg.Server.
func NewTXTResolver(cfg TXTResolverConfig) *TXTResolver {
	if cfg.Server == "" {
		cfg.Server = systemNameserver()
	}
	orDefault(&cfg.MinTTL, DefaultMinTTL)
	orDefault(&cfg.MaxTTL, DefaultMaxTTL)
	orDefault(&cfg.NegativeTTL, DefaultNegativeTTL)
	orDefault(&cfg.ErrorTTL, DefaultErrorTTL)
	orDefault(&cfg.CacheSize, DefaultCacheSize)
	orDefault(&cfg.Timeout, DefaultDNSTimeout)
	return &TXTResolver{cfg: cfg, client: &dns.Client{Timeout: cfg.Timeout},
		pos: newTTLCache[string](cfg.CacheSize), neg: newTTLCache[struct{}](cfg.CacheSize), now: time.Now}
}

// orDefault sets *p to def when it is the zero value.
func orDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

func systemNameserver() string {
	if c, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err == nil && len(c.Servers) > 0 {
		return net.JoinHostPort(c.Servers[0], c.Port)
	}
	return "127.0.0.1:53"
}

// Program returns the item hash (hex) named by the TXT record
// "_aleph-id.<domain>" (domain normalised, see parseHost), or ErrNoProgram.
func (r *TXTResolver) Program(ctx context.Context, domain string) (string, error) {
	return r.record(ctx, "_aleph-id."+domain, parseHashTXT)
}

// parseHashTXT reads an _aleph-id value: an item hash in hex.
func parseHashTXT(v string) (string, bool) {
	h := strings.ToLower(strings.TrimSpace(v))
	return h, isHexHash(h)
}

// Owner returns the address of the TXT record "_control.<domain>", the
// owner whose "domains" aggregate may map the domain (spec network.md
// §5), in its checksummed form (EIP-55, as messages are sent), or
// ErrNoProgram.
func (r *TXTResolver) Owner(ctx context.Context, domain string) (string, error) {
	return r.record(ctx, "_control."+domain, func(v string) (string, bool) {
		a := strings.TrimSpace(v)
		if !crn.IsETHAddress(a) {
			return "", false
		}
		return common.HexToAddress(a).Hex(), true
	})
}

// record returns the first value of the TXT records of name that parse
// accepts (as parse rewrites it), from the caches or one query shared by
// concurrent callers, or ErrNoProgram.
func (r *TXTResolver) record(ctx context.Context, name string, parse func(string) (string, bool)) (string, error) {
	now := r.now()
	if v, ok := r.pos.get(name, now); ok {
		return v, nil
	}
	if _, ok := r.neg.get(name, now); ok {
		return "", ErrNoProgram
	}
	return shared(ctx, &r.group, name, func() (string, error) {
		// The query outlives a cancelled caller: others may share it.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
		defer cancel()
		return r.lookup(qctx, name, parse)
	})
}

// lookup asks the server and fills the caches.
func (r *TXTResolver) lookup(ctx context.Context, name string, parse func(string) (string, bool)) (string, error) {
	v, ttl, err := r.query(ctx, name, parse)
	now := r.now()
	if r.onQuery != nil {
		r.onQuery(err == nil)
	}
	if err != nil {
		r.neg.put(name, struct{}{}, now, ttl)
		return "", err
	}
	r.pos.put(name, v, now, ttl)
	return v, nil
}

// query sends one TXT query and returns the value and how long to keep
// the answer, or ErrNoProgram and how long to keep the miss.
func (r *TXTResolver) query(ctx context.Context, name string, parse func(string) (string, bool)) (string, time.Duration, error) {
	if len(name) > 253 {
		return "", r.cfg.NegativeTTL, ErrNoProgram
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	m.RecursionDesired = true
	in, _, err := r.client.ExchangeContext(ctx, m, r.cfg.Server)
	if err != nil {
		return "", r.cfg.ErrorTTL, fmt.Errorf("%w: %s: %v", ErrNoProgram, name, err)
	}
	return r.answer(name, in, parse)
}

// answer reads a DNS reply to the TXT query of name.
func (r *TXTResolver) answer(name string, in *dns.Msg, parse func(string) (string, bool)) (string, time.Duration, error) {
	switch in.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return "", r.cfg.ErrorTTL, fmt.Errorf("%w: %s: %s", ErrNoProgram, name, dns.RcodeToString[in.Rcode])
	}
	var bad *dns.TXT
	for _, rr := range in.Answer {
		txt, ok := rr.(*dns.TXT)
		if !ok || len(txt.Txt) == 0 {
			continue
		}
		if v, ok := parse(txt.Txt[0]); ok {
			return v, r.clampTTL(txt.Hdr.Ttl, r.cfg.MaxTTL), nil
		}
		bad = txt
	}
	if bad != nil {
		return "", r.clampTTL(bad.Hdr.Ttl, r.cfg.NegativeTTL), fmt.Errorf("%w: %s holds %q", ErrNoProgram, name, bad.Txt[0])
	}
	// No record: the negative TTL of the SOA in the authority section.
	ttl := r.cfg.NegativeTTL
	for _, rr := range in.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			ttl = r.clampTTL(min(soa.Minttl, soa.Hdr.Ttl), r.cfg.NegativeTTL)
		}
	}
	return "", ttl, fmt.Errorf("%w: %s", ErrNoProgram, name)
}

// clampTTL is a record's TTL between MinTTL and upper.
func (r *TXTResolver) clampTTL(sec uint32, upper time.Duration) time.Duration {
	return min(max(time.Duration(sec)*time.Second, r.cfg.MinTTL), upper)
}

// isHexHash reports whether s is 64 lowercase hex digits.
func isHexHash(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
