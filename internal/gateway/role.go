package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/httplimit"
	"github.com/goaleph/goaleph/internal/lifecycle"
)

// RoleConfig is the configuration of the gateway role (aleph gateway
// run). Its settings table (settings.go) describes every key once; zero
// values take the defaults there.
type RoleConfig struct {
	CoreURL string
	// Zone is the gateway's domain: <base32 hash>.<Zone> names a program.
	Zone string
	// Listen, TLSListen and MetricsListen are the listeners' addresses
	// (TLSListen, MetricsListen empty: none).
	Listen, TLSListen, MetricsListen string
	// DNSServer is asked for _aleph-id TXT records (host:port).
	DNSServer    string
	DNSCacheSize int
	NegativeTTL  time.Duration
	// NoDomainsAggregate: custom domains come from _aleph-id TXT records
	// only, not from their owners' domains aggregates too.
	NoDomainsAggregate bool
	// DNSListen is the address of the zone's authoritative DNS server
	// (empty: none); DNSAddresses the IP addresses its names resolve to.
	// With TLS, the zone's wildcard certificate is obtained by DNS-01.
	DNSListen    string
	DNSAddresses []string
	// RefreshInterval is how often the announcements are read.
	RefreshInterval time.Duration
	// TrustedNodes are the compute node addresses followed (empty: all).
	TrustedNodes []string
	// ComputeNodes are base URLs of compute nodes known whether they
	// announce anything or not: candidates for a program no node runs.
	ComputeNodes []string
	// EjectFor is how long a failing compute node gets no traffic.
	EjectFor    time.Duration
	DialTimeout time.Duration
	// HealthInterval, HealthTimeout: the active health checks' period
	// and the time one probe may take; HealthFailures failed probes in a
	// row take a node out of rotation; HealthPaths are checked after
	// /about/usage/system and must answer 2xx.
	HealthInterval, HealthTimeout time.Duration
	HealthFailures                int
	HealthPaths                   []string
	// ScoreSenders are the addresses whose "aleph-scoring-scores" posts
	// weigh the choice of compute node (empty: scores are not read);
	// ScoreThreshold is the score, in percent, below which a node gets no
	// traffic; ScoresInterval how often the scores are read.
	ScoreSenders   []string
	ScoreThreshold int
	ScoresInterval time.Duration
	// ScaleInflight and ScaleLatency are the scale-out thresholds
	// (negative: not checked), ScaleMax the most nodes the gateway brings a program
	// to, ScaleCooldown the least time between two scale-outs of one
	// program; PlacementTTL how long a node the gateway placed a program
	// on stays in its rotation after its last success; PlaceMaxLoad the
	// load per CPU, in percent, above which a node gets no new program
	// (0: no limit).
	ScaleInflight               int
	ScaleLatency, ScaleCooldown time.Duration
	ScaleMax                    int
	PlacementTTL                time.Duration
	PlaceMaxLoad                int
	// ACMECA is the ACME directory; ACMECARoots a PEM file of roots the
	// ACME server's TLS is checked against (default the system's).
	ACMECA, ACMEEmail, ACMECARoots string
	// CertDir holds certificates and ACME accounts (certmagic's file
	// storage). Required with TLSListen.
	CertDir string
	// Certificates, when set, are served for their names as they are,
	// before any on-demand one (a certificate obtained elsewhere; tests
	// and benchmarks). Go API only.
	Certificates []tls.Certificate
	// NoRedirect serves plain HTTP instead of redirecting it to HTTPS.
	NoRedirect bool
	HTTP       httplimit.Config
	LogLevel   string
	Logger     *slog.Logger

	// Listener, TLSListener and MetricsListener, when set, are served
	// instead of listening on the addresses.
	Listener, TLSListener, MetricsListener net.Listener
	// DNSConn and DNSListener, when set, are the zone DNS server's UDP
	// and TCP sockets, used instead of DNSListen.
	DNSConn     net.PacketConn
	DNSListener net.Listener

	// renewCheck is how often certmagic looks for certificates to renew
	// (0: its default, 10 minutes); tests of short-lived certificates
	// shorten it.
	renewCheck time.Duration
}

// Role is a gateway built by NewRole: a lifecycle.Service, Readier and
// io.Closer. Its group runs the directory, then the HTTPS, HTTP and
// metrics servers.
type Role struct {
	rc      RoleConfig
	dir     *Directory
	proxy   *Proxy
	tls     *tlsManager
	zone    *ZoneServer
	dnsConn net.PacketConn
	dnsLn   net.Listener
	// zoneQueries counts the zone DNS server's answers.
	zoneQueries *prometheus.CounterVec
	reg         *prometheus.Registry
	lns         []net.Listener
	httpLn      net.Listener
	tlsLn       net.Listener
	metrics     net.Listener
	group       lifecycle.Group
	ready       chan struct{}
	once        sync.Once
}

var _ lifecycle.Role = (*Role)(nil)

// NewRole builds the gateway and binds its listeners; Run serves it,
// Close releases it when it is never run.
func NewRole(ctx context.Context, rc RoleConfig) (*Role, error) {
	rc = withDefaults(rc)
	if !validName(rc.Zone) {
		return nil, fmt.Errorf("gateway: zone %q is not a domain name of two labels or more", rc.Zone)
	}
	for _, a := range rc.TrustedNodes {
		if !crn.IsETHAddress(a) {
			return nil, fmt.Errorf("gateway: trusted node %q is not an ETH address (0x and 40 hex digits)", a)
		}
	}
	r := &Role{rc: rc, reg: prometheus.NewRegistry(), ready: make(chan struct{})}
	m := newMetrics(r.reg)
	r.reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	hc := &http.Client{Timeout: 30 * time.Second}
	r.dir = NewDirectory(rc.CoreURL, rc.RefreshInterval, rc.TrustedNodes, hc, rc.Logger)
	if err := r.dir.AddNodes(rc.ComputeNodes...); err != nil {
		return nil, err
	}
	probes := &http.Client{Timeout: rc.HealthTimeout, Transport: newTransport(rc.DialTimeout)}
	health := &healthChecker{dir: r.dir, http: probes, interval: rc.HealthInterval, paths: rc.HealthPaths,
		failures: rc.HealthFailures, metrics: m, log: rc.Logger}
	sc := newScaler(r.dir, client.New(rc.CoreURL), probes, scaleConfig{Inflight: rc.ScaleInflight, Latency: rc.ScaleLatency,
		Max: rc.ScaleMax, Cooldown: rc.ScaleCooldown, TTL: rc.PlacementTTL, MaxLoadPercent: rc.PlaceMaxLoad}, m, rc.Logger)
	txt := NewTXTResolver(TXTResolverConfig{Server: rc.DNSServer, CacheSize: rc.DNSCacheSize, NegativeTTL: rc.NegativeTTL})
	txt.onQuery = func(found bool) {
		result := "missing"
		if found {
			result = "found"
		}
		m.dnsQueries.WithLabelValues(result).Inc()
	}
	var domains *domainsResolver
	if !rc.NoDomainsAggregate {
		domains = newDomainsResolver(txt, client.New(rc.CoreURL), rc.DNSCacheSize)
	}
	r.proxy = &Proxy{zone: rc.Zone, dir: r.dir, scale: sc, txt: txt, domains: domains, transport: newTransport(rc.DialTimeout), ejectFor: rc.EjectFor,
		metrics: m, log: rc.Logger, now: time.Now}
	errorLog := slog.NewLogLogger(rc.Logger.Handler(), slog.LevelDebug)
	var err error
	if r.httpLn, err = r.listen(rc.Listener, rc.Listen); err != nil {
		return nil, err
	}
	if err := r.startZoneDNS(); err != nil {
		r.Close()
		return nil, err
	}
	if rc.TLSListen != "" || rc.TLSListener != nil {
		if r.tlsLn, err = r.listen(rc.TLSListener, rc.TLSListen); err != nil {
			return nil, err
		}
		if r.tls, err = newTLSManager(rc, r.httpLn.Addr(), r.proxy, m, r.zone, r.dnsAddr()); err != nil {
			r.Close()
			return nil, err
		}
		for _, c := range rc.Certificates {
			if _, err := r.tls.cfg.CacheUnmanagedTLSCertificate(ctx, c, nil); err != nil {
				r.Close()
				return nil, fmt.Errorf("gateway: certificate: %w", err)
			}
		}
	}
	if rc.MetricsListen != "" || rc.MetricsListener != nil {
		if r.metrics, err = r.listen(rc.MetricsListener, rc.MetricsListen); err != nil {
			return nil, err
		}
	}
	r.group.Add("directory", serviceFunc(r.dir.Run))
	r.group.Add("health", serviceFunc(health.Run))
	if len(rc.ScoreSenders) > 0 {
		book := &scoreBook{dir: r.dir, core: client.New(rc.CoreURL), senders: rc.ScoreSenders, threshold: float64(rc.ScoreThreshold) / 100,
			interval: rc.ScoresInterval, metrics: m, log: rc.Logger}
		r.group.Add("scores", serviceFunc(book.Run))
	}
	if r.zone != nil {
		r.group.Add("dns", serviceFunc(func(ctx context.Context) error { return r.zone.Serve(ctx, r.dnsConn, r.dnsLn) }))
	}
	if r.tls != nil && r.tls.zoneCfg != nil {
		r.group.Add("zone certificate", serviceFunc(r.tls.manageZone))
	}
	if r.tls != nil {
		srv := rc.HTTP.Server(r.handler(), context.WithoutCancel(ctx))
		srv.ErrorLog = errorLog // handshakes refused for unknown names
		srv.TLSConfig = r.tls.tlsConfig()
		r.group.Add("https", serviceFunc(func(ctx context.Context) error {
			return serve(ctx, srv, tls.NewListener(rc.HTTP.Listener(r.tlsLn), srv.TLSConfig))
		}))
	}
	plain := r.handler()
	if r.tls != nil {
		plain = r.tls.httpHandler(plain, !rc.NoRedirect, portOf(r.tlsLn))
	}
	httpSrv := rc.HTTP.Server(plain, context.WithoutCancel(ctx))
	httpSrv.ErrorLog = errorLog
	r.group.Add("http", serviceFunc(func(ctx context.Context) error {
		r.once.Do(func() { close(r.ready) })
		return serve(ctx, httpSrv, rc.HTTP.Listener(r.httpLn))
	}))
	if r.metrics != nil {
		msrv := &http.Server{Handler: promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		r.group.Add("metrics", serviceFunc(func(ctx context.Context) error { return serve(ctx, msrv, r.metrics) }))
	}
	return r, nil
}

func withDefaults(rc RoleConfig) RoleConfig {
	orDefault(&rc.CoreURL, DefaultCoreURL)
	orDefault(&rc.Zone, DefaultZone)
	rc.Zone = strings.TrimSuffix(strings.ToLower(rc.Zone), ".")
	orDefault(&rc.EjectFor, DefaultEjectFor)
	orDefault(&rc.DialTimeout, DefaultDialTimeout)
	orDefault(&rc.HealthInterval, DefaultHealthInterval)
	orDefault(&rc.HealthTimeout, DefaultHealthTimeout)
	orDefault(&rc.HealthFailures, DefaultHealthFailures)
	orDefault(&rc.ScoreThreshold, DefaultScoreThresholdPercent)
	orDefault(&rc.ScoresInterval, DefaultScoresInterval)
	orDefault(&rc.ScaleInflight, DefaultScaleInflight)
	orDefault(&rc.ScaleLatency, DefaultScaleLatency)
	orDefault(&rc.ScaleMax, DefaultScaleMax)
	orDefault(&rc.ScaleCooldown, DefaultScaleCooldown)
	orDefault(&rc.PlacementTTL, DefaultPlacementTTL)
	orDefault(&rc.ACMECA, DefaultACMECA)
	orDefault(&rc.HTTP.WriteTimeout, DefaultHTTP.WriteTimeout)
	if rc.Logger == nil {
		rc.Logger = slog.New(slog.DiscardHandler)
	}
	return rc
}

// listen returns ln, else a new listener on addr; the role closes it.
func (r *Role) listen(ln net.Listener, addr string) (net.Listener, error) {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			r.Close()
			return nil, fmt.Errorf("gateway: %w", err)
		}
	}
	r.lns = append(r.lns, ln)
	return ln, nil
}

func portOf(ln net.Listener) string {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// serviceFunc is a lifecycle.Service made of its Run.
type serviceFunc func(ctx context.Context) error

func (f serviceFunc) Run(ctx context.Context) error { return f(ctx) }

// serve serves srv on ln until ctx ends, then shuts it down, giving the
// requests in flight 5 seconds.
func serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Ready is closed once the gateway serves.
func (r *Role) Ready() <-chan struct{} { return r.ready }

// Run serves the gateway until ctx ends.
func (r *Role) Run(ctx context.Context) error {
	defer r.Close()
	return r.group.Run(ctx)
}

// Close releases the listeners and the certificate cache.
func (r *Role) Close() error {
	var errs []error
	for _, ln := range r.lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	r.lns = nil
	if r.dnsConn != nil {
		r.dnsConn.Close()
	}
	if r.tls != nil {
		r.tls.close()
	}
	return errors.Join(errs...)
}

// URL is the gateway's plain HTTP URL, http://host:port.
func (r *Role) URL() string { return "http://" + r.httpLn.Addr().String() }

// HTTPAddr, TLSAddr (nil without TLS) and MetricsAddr are the listeners'
// addresses.
func (r *Role) HTTPAddr() net.Addr { return r.httpLn.Addr() }

// TLSAddr is the HTTPS listener's address, nil without TLS.
func (r *Role) TLSAddr() net.Addr {
	if r.tlsLn == nil {
		return nil
	}
	return r.tlsLn.Addr()
}

// MetricsURL is the URL of the metrics, empty without a metrics listener.
func (r *Role) MetricsURL() string {
	if r.metrics == nil {
		return ""
	}
	return "http://" + r.metrics.Addr().String() + "/metrics"
}

// Directory is the gateway's view of the compute nodes.
func (r *Role) Directory() *Directory { return r.dir }

// Registry is the gateway's metrics registry.
func (r *Role) Registry() *prometheus.Registry { return r.reg }
