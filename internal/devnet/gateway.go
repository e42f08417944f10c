package devnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
)

// GatewayZone is the zone of a devnet's gateway: programs answer at
// https://<base32 hash>.devnet.localhost:<port>/.
const GatewayZone = "devnet.localhost"

// GatewayConfig is what a network gives the gateway it runs.
type GatewayConfig struct {
	CoreURL string       // API URL of node 0, where the announcements are read
	DataDir string       // the gateway's directory (its CA, certificates)
	Zone    string       // GatewayZone
	Logger  *slog.Logger // tagged with node=gateway
}

// Gateway is where a devnet's gateway answers.
type Gateway struct {
	Zone string
	// HTTPAddr, HTTPSAddr and DNSAddr are its listeners (127.0.0.1:port):
	// plain HTTP, HTTPS, and the zone's authoritative DNS (UDP and TCP).
	HTTPAddr, HTTPSAddr, DNSAddr string
	// CAFile is the PEM of the root of the devnet's ACME CA (a pebble
	// started with the network, new at each run): the gateway's
	// certificates verify against it.
	CAFile string
}

// GatewayServer is a gateway with its certificate authority: Run serves
// it until ctx ends; Close releases what New bound when Run is never
// called.
type GatewayServer interface {
	Run(ctx context.Context) error
	Close() error
	Info() Gateway
	// Curl is the command that reaches the program hash over HTTPS
	// (hash "": with "<label>" for the program's base32 label).
	Curl(hash string) (string, error)
}

// newGatewayServer is set by RegisterGateway (package devnet/devgw: the
// gateway's tests run on a devnet, so devnet cannot import it).
var newGatewayServer func(context.Context, GatewayConfig) (GatewayServer, error)

// RegisterGateway sets how networks with Config.Gateway make their
// gateway. The package devnet/devgw calls it when imported.
func RegisterGateway(f func(context.Context, GatewayConfig) (GatewayServer, error)) {
	newGatewayServer = f
}

// newGateway makes the gateway, reading node 0, in dir/gateway.
func (nw *Network) newGateway(ctx context.Context, dir string) (GatewayServer, error) {
	if newGatewayServer == nil {
		return nil, errors.New("devnet: Gateway is set but no gateway is registered " +
			"(import github.com/goaleph/goaleph/internal/devnet/devgw)")
	}
	gw, err := newGatewayServer(ctx, GatewayConfig{CoreURL: nw.nodes[0].apiURL, DataDir: filepath.Join(dir, "gateway"),
		Zone: GatewayZone, Logger: nw.cfg.Logger.With("node", "gateway")})
	if err != nil {
		return nil, fmt.Errorf("devnet: gateway: %w", err)
	}
	return gw, nil
}

// runGateway serves the gateway until the network stops; its failing
// stops the network, as a node's.
func (nw *Network) runGateway(gw GatewayServer) {
	nw.gateway = gw
	nw.gatewayDone = make(chan struct{})
	go func() {
		defer close(nw.gatewayDone)
		err := gw.Run(nw.runCtx)
		if err != nil && nw.runCtx.Err() == nil {
			nw.mu.Lock()
			if nw.failed == nil {
				nw.failed = fmt.Errorf("gateway: %w", err)
			}
			nw.mu.Unlock()
			nw.cancel()
		}
	}()
}

// Gateway is where the network's gateway answers, nil without
// Config.Gateway.
func (nw *Network) Gateway() *Gateway {
	if nw.gateway == nil {
		return nil
	}
	g := nw.gateway.Info()
	return &g
}

// GatewayCurl is the curl command that reaches the program hash through
// the gateway over HTTPS (hash "": with "<label>" for the program's
// base32 label; "" without Config.Gateway).
func (nw *Network) GatewayCurl(hash string) (string, error) {
	if nw.gateway == nil {
		return "", nil
	}
	return nw.gateway.Curl(hash)
}
