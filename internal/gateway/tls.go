package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// errNotServed is the on-demand decision for a host the gateway would not
// route: no certificate is ordered for it.
var errNotServed = errors.New("gateway: no program at this host")

// tlsManager obtains and serves certificates with certmagic: on demand,
// at the first TLS handshake for a name, once allow says the gateway
// routes that name; kept in a file-system storage that several gateways
// may share.
type tlsManager struct {
	cache  *certmagic.Cache
	cfg    *certmagic.Config // on demand, HTTP-01
	issuer *certmagic.ACMEIssuer
	// zoneCfg manages the zone's wildcard certificate through DNS-01
	// (nil without the gateway's own DNS server).
	zoneCfg *certmagic.Config
	zone    string
}

// newTLSManager builds the manager of rc; httpAddr is the gateway's HTTP
// listener, where the HTTP-01 challenges are answered; zone, when not
// nil, is the gateway's DNS server of its zone, reached at dnsAddr.
func newTLSManager(rc RoleConfig, httpAddr net.Addr, p *Proxy, m *metrics, zone *ZoneServer, dnsAddr string) (*tlsManager, error) {
	if rc.CertDir == "" {
		return nil, errors.New("gateway: TLS needs a certificate directory (--cert-dir)")
	}
	var roots *x509.CertPool
	if rc.ACMECARoots != "" {
		pem, err := os.ReadFile(rc.ACMECARoots)
		if err != nil {
			return nil, fmt.Errorf("gateway: ACME CA roots: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("gateway: ACME CA roots: no certificate in %s", rc.ACMECARoots)
		}
	}
	host, port, err := net.SplitHostPort(httpAddr.String())
	if err != nil {
		return nil, err
	}
	httpPort, err := strconv.Atoi(port)
	if err != nil {
		return nil, err
	}
	t := &tlsManager{zone: rc.Zone}
	logger := zap.NewNop()
	if rc.LogLevel == "debug" { // certmagic logs with zap: its own lines on stderr
		if l, err := zap.NewDevelopment(); err == nil {
			logger = l
		}
	}
	t.cache = certmagic.NewCache(certmagic.CacheOptions{
		RenewCheckInterval: rc.renewCheck, // 0: certmagic's 10 minutes
		GetConfigForCert: func(c certmagic.Certificate) (*certmagic.Config, error) {
			if t.zoneCfg != nil && slices.ContainsFunc(c.Names, t.zoneName) {
				return t.zoneCfg, nil
			}
			return t.cfg, nil
		},
		Logger: logger,
	})
	storage := &certmagic.FileStorage{Path: rc.CertDir}
	onEvent := func(ctx context.Context, event string, data map[string]any) error {
		switch event {
		case "cert_obtained":
			if renewal, _ := data["renewal"].(bool); renewal {
				m.certificates.WithLabelValues("renewed").Inc()
			} else {
				m.certificates.WithLabelValues("obtained").Inc()
			}
		case "cert_failed":
			m.certificates.WithLabelValues("failed").Inc()
		}
		return nil
	}
	t.cfg = certmagic.New(t.cache, certmagic.Config{
		Storage: storage,
		Logger:  logger,
		OCSP:    certmagic.OCSPConfig{DisableStapling: true},
		OnDemand: &certmagic.OnDemandConfig{DecisionFunc: func(ctx context.Context, name string) error {
			if err := p.allow(ctx, name); err != nil {
				m.certificates.WithLabelValues("denied").Inc()
				return err
			}
			return nil
		}},
		OnEvent: onEvent,
	})
	t.issuer = certmagic.NewACMEIssuer(t.cfg, certmagic.ACMEIssuer{
		CA: rc.ACMECA, TestCA: rc.ACMECA, Email: rc.ACMEEmail, Agreed: true, TrustedRoots: roots,
		// HTTP-01 on the gateway's own HTTP listener (httpHandler): naming
		// its address keeps certmagic from binding a solver of its own.
		// TLS-ALPN-01 is off: it would need port 443 to be this listener.
		ListenHost: host, AltHTTPPort: httpPort, DisableTLSALPNChallenge: true, Logger: logger,
	})
	t.cfg.Issuers = []certmagic.Issuer{t.issuer}
	if zone != nil {
		// The zone and its wildcard: DNS-01, answered by the gateway's own
		// DNS server. A certmagic issuer with a DNS solver solves DNS-01
		// only, hence a configuration of its own on the same cache and
		// storage. certmagic finds the zone by asking dnsAddr for its SOA;
		// the record is in the server before AppendRecords returns, so no
		// propagation wait.
		t.zoneCfg = certmagic.New(t.cache, certmagic.Config{Storage: storage, Logger: logger,
			OCSP: certmagic.OCSPConfig{DisableStapling: true}, OnEvent: onEvent})
		t.zoneCfg.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(t.zoneCfg, certmagic.ACMEIssuer{
			CA: rc.ACMECA, TestCA: rc.ACMECA, Email: rc.ACMEEmail, Agreed: true, TrustedRoots: roots, Logger: logger,
			DNS01Solver: &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
				DNSProvider: zone, TTL: challengeTTL * time.Second, Resolvers: []string{dnsAddr},
				PropagationTimeout: -1, Logger: logger}},
		})}
	}
	return t, nil
}

// zoneNames are the names of the zone's certificates: the zone and its
// wildcard.
func (t *tlsManager) zoneNames() []string { return []string{"*." + t.zone, t.zone} }

func (t *tlsManager) zoneName(name string) bool { return slices.Contains(t.zoneNames(), name) }

// manageZone obtains (or loads from the storage) the zone's certificates
// and keeps them renewed until ctx ends.
func (t *tlsManager) manageZone(ctx context.Context) error {
	if err := t.zoneCfg.ManageAsync(ctx, t.zoneNames()); err != nil {
		return fmt.Errorf("gateway: zone certificates: %w", err)
	}
	<-ctx.Done()
	return nil
}

// allow is the on-demand decision: name must be a host the gateway
// routes, the zone itself, a zone name of a program some compute node
// announces (or of a program message on the core node), or a custom domain whose _aleph-id TXT record names a
// program (or whose owner's domains aggregate does). It runs before any ACME order.
func (p *Proxy) allow(ctx context.Context, name string) error {
	h, err := parseHost(name, p.zone)
	if err != nil {
		return errNotServed
	}
	switch h.kind {
	case hostZone:
		return nil
	case hostHash: // a node serves it, or it is a program one may start
		if len(p.scale.targets(h.hash)) == 0 {
			if _, err := p.scale.info(ctx, h.hash); err != nil {
				return errNotServed
			}
		}
		return nil
	}
	if _, err := p.program(ctx, h.name); err != nil {
		return errNotServed
	}
	return nil
}

// tlsConfig is the HTTPS listener's TLS configuration: certmagic's
// certificates, HTTP/1.1. With the zone's own certificates, the zone's
// names get theirs from the zone's configuration: never on demand (no
// order per program name, none before the wildcard arrives), renewed by
// DNS-01 in certmagic's maintenance, not by HTTP-01 at a handshake.
func (t *tlsManager) tlsConfig() *tls.Config {
	c := t.cfg.TLSConfig()
	if t.zoneCfg != nil {
		onDemand, zone := c.GetCertificate, t.zoneCfg.GetCertificate
		c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
			if name == t.zone || strings.HasSuffix(name, "."+t.zone) {
				return zone(hello)
			}
			return onDemand(hello)
		}
	}
	c.NextProtos = []string{"http/1.1"}
	c.MinVersion = tls.VersionTLS12
	return c
}

// httpHandler serves the plain HTTP listener: ACME HTTP-01 challenges,
// then either a redirect to HTTPS (on tlsPort) or the proxy.
func (t *tlsManager) httpHandler(proxy http.Handler, redirect bool, tlsPort string) http.Handler {
	next := proxy
	if redirect {
		next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			if _, err := parseHost(host, ""); err != nil {
				writeError(w, http.StatusNotFound, "unknown_host", "no program at this host")
				return
			}
			if tlsPort != "443" {
				host = net.JoinHostPort(host, tlsPort)
			}
			target := "https://" + host + r.URL.RequestURI()
			if !strings.HasPrefix(r.URL.RequestURI(), "/") {
				target = "https://" + host + "/"
			}
			http.Redirect(w, r, target, http.StatusPermanentRedirect)
		})
	}
	return t.issuer.HTTPChallengeHandler(next)
}

func (t *tlsManager) close() { t.cache.Stop() }
