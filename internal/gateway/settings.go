package gateway

import (
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/goaleph/goaleph/internal/httplimit"
	"github.com/goaleph/goaleph/internal/settings"
)

// Defaults of the gateway role, used by its settings table.
const (
	DefaultCoreURL       = "http://127.0.0.1:4024"
	DefaultListen        = "127.0.0.1:4080"
	DefaultMetricsListen = "127.0.0.1:4082"
	DefaultZone          = "gateway.localhost"
	DefaultACMECA        = certmagic.LetsEncryptProductionCA
	DefaultDialTimeout   = 3 * time.Second
	DefaultLogLevel      = "info"
)

// DefaultHTTP are the gateway's connection limits: httplimit's, with the
// compute node's time for a response (a program may be starting).
var DefaultHTTP = func() httplimit.Config {
	c := httplimit.Defaults
	c.WriteTimeout = 5 * time.Minute
	return c
}()

// Settings is the settings table of the gateway role bound to c: every
// flag of aleph gateway run, its key in the configuration file and its
// environment variable (ALEPH_GATEWAY_ and the flag's name).
func (c *RoleConfig) Settings() *settings.Table {
	return settings.New("ALEPH_GATEWAY_", append([]*settings.Setting{
		settings.String(&c.CoreURL, "core-url", "core_url", DefaultCoreURL, "API URL of the core node the executions announcements are read from"),
		settings.String(&c.Zone, "zone", "zone", DefaultZone, "the gateway's domain: programs answer at <base32 hash>.<zone>"),
		settings.String(&c.Listen, "listen", "http.listen", DefaultListen, "address of the HTTP listener (:80 in production)"),
		settings.String(&c.TLSListen, "tls-listen", "tls.listen", "", "address of the HTTPS listener, e.g. :443 (empty: no TLS)"),
		settings.String(&c.MetricsListen, "metrics-listen", "metrics.listen", DefaultMetricsListen, "address serving /metrics (empty: none)"),
		settings.String(&c.DNSServer, "dns-server", "dns.server", "", "DNS server (host:port) asked for _aleph-id TXT records (default the first of /etc/resolv.conf)"),
		settings.Int(&c.DNSCacheSize, "dns-cache-size", "dns.cache_size", DefaultCacheSize, "entries in each of the TXT answer and miss caches"),
		settings.Duration(&c.NegativeTTL, "dns-negative-ttl", "dns.negative_ttl", DefaultNegativeTTL, "longest a domain without an _aleph-id record is remembered"),
		settings.InvertedBool(&c.NoDomainsAggregate, "no-domains-aggregate", "dns.domains_aggregate", "custom domains from _aleph-id TXT records only, not from the domains aggregate of the owner named by _control.<domain>"),
		settings.String(&c.DNSListen, "dns-listen", "dns.listen", "", "address (UDP and TCP) of the zone's own authoritative DNS server, e.g. :53; with TLS, the zone gets a wildcard certificate through DNS-01 (empty: no server)"),
		settings.StringArray(&c.DNSAddresses, "dns-address", "dns.addresses", nil, "IP address the zone's DNS server gives the zone and every name under it (repeatable)"),
		settings.Duration(&c.RefreshInterval, "refresh-interval", "upstreams.refresh_interval", DefaultRefreshInterval, "how often the executions announcements are read again"),
		settings.StringArray(&c.TrustedNodes, "trusted-node", "upstreams.trusted_nodes", nil, "ETH address of a compute node whose announcements are followed (repeatable; default every node)"),
		settings.Duration(&c.EjectFor, "eject-for", "upstreams.eject_for", DefaultEjectFor, "how long a compute node that failed (connect error, 502, 503, 504) gets no traffic"),
		settings.Duration(&c.DialTimeout, "dial-timeout", "upstreams.dial_timeout", DefaultDialTimeout, "how long connecting to a compute node may take"),
		settings.StringArray(&c.ComputeNodes, "compute-node", "upstreams.compute_nodes", nil, "base URL of a compute node a program no node runs may be started on (repeatable; nodes that announce executions count too)"),
		settings.Duration(&c.HealthInterval, "health-interval", "health.interval", DefaultHealthInterval, "how often each compute node's /about/usage/system is probed"),
		settings.Duration(&c.HealthTimeout, "health-timeout", "health.timeout", DefaultHealthTimeout, "how long one health probe may take"),
		settings.Int(&c.HealthFailures, "health-failures", "health.failures", DefaultHealthFailures, "failed probes in a row that take a compute node out of rotation (one good probe brings it back)"),
		settings.StringArray(&c.HealthPaths, "health-check", "health.paths", nil, "another path each probe GETs, which must answer 2xx, e.g. /status/check/fastapi (repeatable)"),
		settings.StringArray(&c.ScoreSenders, "score-sender", "scores.senders", nil, "ETH address whose aleph-scoring-scores posts weigh the choice of compute node (repeatable; default none: scores are not read)"),
		settings.Int(&c.ScoreThreshold, "score-threshold", "scores.threshold", DefaultScoreThresholdPercent, "score, in percent, below which a compute node gets no traffic"),
		settings.Duration(&c.ScoresInterval, "scores-interval", "scores.interval", DefaultScoresInterval, "how often the scores are read again"),
		settings.Int(&c.ScaleInflight, "scale-inflight", "scale.inflight", DefaultScaleInflight, "requests in flight at a compute node past which a program it serves gets one more node (negative: never)"),
		settings.Duration(&c.ScaleLatency, "scale-latency", "scale.latency", DefaultScaleLatency, "average time to a compute node's answers past which a program it serves gets one more node (negative: never)"),
		settings.Int(&c.ScaleMax, "scale-max", "scale.max", DefaultScaleMax, "most compute nodes scale-out brings a program to"),
		settings.Duration(&c.ScaleCooldown, "scale-cooldown", "scale.cooldown", DefaultScaleCooldown, "least time between two scale-outs of one program"),
		settings.Duration(&c.PlacementTTL, "placement-ttl", "scale.placement_ttl", DefaultPlacementTTL, "how long a node the gateway started a program on stays in its rotation after its last answer"),
		settings.Int(&c.PlaceMaxLoad, "place-max-load", "scale.place_max_load", 0, "load average per CPU, in percent, above which a compute node gets no new program (0: no limit)"),
		settings.String(&c.ACMECA, "acme-ca", "tls.acme_ca", DefaultACMECA, "ACME directory URL certificates are ordered from"),
		settings.String(&c.ACMEEmail, "acme-email", "tls.acme_email", "", "contact e-mail of the ACME account"),
		settings.String(&c.ACMECARoots, "acme-ca-roots", "tls.acme_ca_roots", "", "PEM file of the roots trusted for the ACME server's own TLS (a test CA; default the system's)"),
		settings.String(&c.CertDir, "cert-dir", "tls.cert_dir", "", "directory of certificates and ACME accounts, shareable by several gateways (default <user config dir>/goaleph/gateway)"),
		settings.InvertedBool(&c.NoRedirect, "no-https-redirect", "tls.https_redirect", "serve plain HTTP too instead of redirecting it to HTTPS"),
		settings.String(&c.LogLevel, "log-level", "log_level", DefaultLogLevel, "debug, info, warn or error"),
	}, c.HTTP.Settings(DefaultHTTP)...)...)
}
