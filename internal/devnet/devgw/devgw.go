// Package devgw is the gateway of a devnet: importing it lets
// devnet.Config.Gateway run one. It is a package of its own because the
// gateway's tests run on a devnet, so the devnet package cannot import
// the gateway.
//
// The gateway (gateway.NewRole) reads node 0's executions announcements,
// serves the zone devnet.GatewayZone from its own DNS server on
// 127.0.0.1, and gets the zone's wildcard certificate through DNS-01 from
// a local ACME CA: pebble (internal/pebble), built once with go install
// into the user's cache (so the first run needs the Go toolchain and the
// module proxy) and started with the gateway, a new CA at each run.
package devgw

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/devnet"
	"github.com/goaleph/goaleph/internal/gateway"
	"github.com/goaleph/goaleph/internal/pebble"
)

func init() { devnet.RegisterGateway(New) }

// server is a gateway and its pebble.
type server struct {
	role   *gateway.Role
	pebble *pebble.Server
	info   devnet.Gateway
}

// New makes the gateway of a devnet and starts its CA.
func New(ctx context.Context, c devnet.GatewayConfig) (_ devnet.GatewayServer, err error) {
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return nil, err
	}
	// Each run has a new CA: certificates of an earlier run are useless.
	certs := filepath.Join(c.DataDir, "certs")
	if err := os.RemoveAll(certs); err != nil {
		return nil, err
	}
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	pc, dnsLn, err := gateway.ListenDNS("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	closers = append(closers, pc.Close, dnsLn.Close)
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	closers = append(closers, httpLn.Close)
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	closers = append(closers, tlsLn.Close)
	p, err := pebble.Start(pebble.Config{Dir: filepath.Join(c.DataDir, "pebble"), DNSServer: pc.LocalAddr().String(),
		HTTPPort: httpLn.Addr().(*net.TCPAddr).Port})
	if err != nil {
		return nil, err
	}
	closers = append(closers, p.Close)
	root, err := p.Root(ctx)
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(c.DataDir, "ca.pem")
	if err := os.WriteFile(caFile, root, 0o644); err != nil {
		return nil, err
	}
	role, err := gateway.NewRole(ctx, gateway.RoleConfig{CoreURL: c.CoreURL, Zone: c.Zone,
		Listener: httpLn, TLSListener: tlsLn, DNSConn: pc, DNSListener: dnsLn, DNSAddresses: []string{"127.0.0.1"},
		// Custom domains' TXT records are asked of the zone's own server,
		// which knows none: a devnet makes no query outside.
		DNSServer: pc.LocalAddr().String(),
		ACMECA:    p.DirURL, ACMECARoots: p.CAFile, CertDir: certs, ACMEEmail: "devnet@" + c.Zone,
		RefreshInterval: 2 * time.Second, NoRedirect: true, Logger: c.Logger})
	if err != nil {
		return nil, err
	}
	return &server{role: role, pebble: p, info: devnet.Gateway{Zone: c.Zone, HTTPAddr: httpLn.Addr().String(),
		HTTPSAddr: tlsLn.Addr().String(), DNSAddr: pc.LocalAddr().String(), CAFile: caFile}}, nil
}

// Run serves the gateway until ctx ends, then stops its CA.
func (s *server) Run(ctx context.Context) error {
	err := s.role.Run(ctx)
	s.pebble.Close()
	return err
}

func (s *server) Close() error {
	err := s.role.Close()
	s.pebble.Close()
	return err
}

func (s *server) Info() devnet.Gateway { return s.info }

// Curl is the curl command reaching the program hash over HTTPS, checked
// against the devnet's CA, its name resolved to the gateway by --resolve;
// without a hash, with "<label>" in its place.
func (s *server) Curl(hash string) (string, error) {
	label := "<label>"
	if hash != "" {
		var err error
		if label, err = crn.HostLabel(hash); err != nil {
			return "", err
		}
	}
	_, port, _ := net.SplitHostPort(s.info.HTTPSAddr)
	host := label + "." + s.info.Zone
	return fmt.Sprintf("curl --cacert %s --resolve %s:%s:127.0.0.1 https://%s:%s/", s.info.CAFile, host, port, host, port), nil
}
