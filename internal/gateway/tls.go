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
	"strconv"
	"strings"

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
	cfg    *certmagic.Config
	issuer *certmagic.ACMEIssuer
}

// newTLSManager builds the manager of rc; httpAddr is the gateway's HTTP
// listener, where the HTTP-01 challenges are answered.
func newTLSManager(rc RoleConfig, httpAddr net.Addr, p *Proxy, m *metrics) (*tlsManager, error) {
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
	t := &tlsManager{}
	logger := zap.NewNop()
	if rc.LogLevel == "debug" { // certmagic logs with zap: its own lines on stderr
		if l, err := zap.NewDevelopment(); err == nil {
			logger = l
		}
	}
	t.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return t.cfg, nil },
		Logger:           logger,
	})
	t.cfg = certmagic.New(t.cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: rc.CertDir},
		Logger:  logger,
		OCSP:    certmagic.OCSPConfig{DisableStapling: true},
		OnDemand: &certmagic.OnDemandConfig{DecisionFunc: func(ctx context.Context, name string) error {
			if err := p.allow(ctx, name); err != nil {
				m.certificates.WithLabelValues("denied").Inc()
				return err
			}
			return nil
		}},
		OnEvent: func(ctx context.Context, event string, data map[string]any) error {
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
		},
	})
	t.issuer = certmagic.NewACMEIssuer(t.cfg, certmagic.ACMEIssuer{
		CA: rc.ACMECA, TestCA: rc.ACMECA, Email: rc.ACMEEmail, Agreed: true, TrustedRoots: roots,
		// HTTP-01 on the gateway's own HTTP listener (httpHandler): naming
		// its address keeps certmagic from binding a solver of its own.
		// TLS-ALPN-01 is off: it would need port 443 to be this listener.
		ListenHost: host, AltHTTPPort: httpPort, DisableTLSALPNChallenge: true, Logger: logger,
	})
	t.cfg.Issuers = []certmagic.Issuer{t.issuer}
	return t, nil
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
// certificates, HTTP/1.1.
func (t *tlsManager) tlsConfig() *tls.Config {
	c := t.cfg.TLSConfig()
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
