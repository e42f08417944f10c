package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/vmjs"
)

// TestModuleServed: the gateway serves the browser module on its own
// names (the zone, its IP address), defaulting to the core node it reads;
// on a program's name the path is the program's.
func TestModuleServed(t *testing.T) {
	p := startProgram(t)
	gw := startGateway(t, RoleConfig{CoreURL: p.core, DNSServer: p.dns.addr})
	waitUpstreams(t, gw, testHash, 1)
	c := &http.Client{Timeout: 30 * time.Second}
	for _, host := range []string{"gw.test", gw.HTTPAddr().String()} {
		code, body, err := get(c, gw.URL(), host, vmjs.Path)
		if err != nil || code != 200 || !strings.Contains(body, `const defaultCoreURLs = ["`+p.core+`"];`) {
			t.Errorf("%s%s: %d %.200q %v", host, vmjs.Path, code, body, err)
		}
	}
	code, body, err := get(c, gw.URL(), hostOf(t, testHash, "gw.test"), vmjs.Path)
	if err != nil || code != 200 || !strings.HasPrefix(body, "A /vm/"+testHash+vmjs.Path) {
		t.Errorf("program host: %d %q %v", code, body, err)
	}
}
