package devnet_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute/crn/crntest"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
	"github.com/goaleph/goaleph/internal/devnet"
	_ "github.com/goaleph/goaleph/internal/devnet/devgw"
	"github.com/goaleph/goaleph/internal/testhttp"
)

// TestGateway: a devnet with a gateway gets the zone's wildcard
// certificate from its own ACME CA through the gateway's own DNS, and the
// curl line it gives reaches a program over HTTPS, checked against the
// devnet's CA.
func TestGateway(t *testing.T) {
	nw, err := devnet.Start(t.Context(), devnet.Config{Nodes: 1, Compute: true, Gateway: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	gw := nw.Gateway()
	if gw == nil || gw.Zone != devnet.GatewayZone {
		t.Fatalf("gateway: %+v", gw)
	}
	hash := crntest.Program(t, nw.Nodes()[0].APIURL(), wasmtest.CGIModule("hello through the gateway", false))
	// The first call, on the compute node, starts the program: the node
	// announces it, and the gateway routes to it.
	res, body := testhttp.Get(t, nil, nw.ComputeURL()+"/vm/"+hash+"/")
	if res.StatusCode != 200 || body != "hello through the gateway" {
		t.Fatalf("on the compute node: %d %q", res.StatusCode, body)
	}
	line, err := nw.GatewayCurl(hash)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", line)
	if !strings.HasPrefix(line, "curl --cacert "+gw.CAFile+" --resolve ") {
		t.Fatalf("curl line %q", line)
	}
	args := append([]string{"--silent", "--show-error", "--max-time", "30"}, strings.Fields(line)[1:]...)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := exec.CommandContext(t.Context(), "curl", args...).CombinedOutput()
		if err == nil && string(out) == "hello through the gateway" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v: %s", line, err, out)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
