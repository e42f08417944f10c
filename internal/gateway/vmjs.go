package gateway

import (
	"net"
	"net/http"

	"github.com/goaleph/goaleph/internal/vmjs"
)

// handler is the proxy, with the browser module (vmjs.Path) served on
// the gateway's own names: the zone and IP addresses (a program's names
// leave every path to the program). The module's default core node is the
// one the gateway reads.
func (r *Role) handler() http.Handler {
	module := vmjs.Handler([]string{r.rc.CoreURL})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == vmjs.Path && r.ownHost(req.Host) {
			module.ServeHTTP(w, req)
			return
		}
		r.proxy.ServeHTTP(w, req)
	})
}

// ownHost reports whether host (a Host header) names the gateway itself.
func (r *Role) ownHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if net.ParseIP(host) != nil {
		return true
	}
	p, err := parseHost(host, r.rc.Zone)
	return err == nil && p.kind == hostZone
}
