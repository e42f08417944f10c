package crn

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute/microvm"
	"github.com/goaleph/goaleph/internal/compute/sandbox/sandboxtest"
)

// TestMicroVMPrograms runs a FastAPI app and an executable on the Debian
// runtime in micro VMs through the compute node: the Aleph headers, a
// request over resources.seconds (504), a memory overrun (5xx while the
// other program keeps serving), and the accelerator in /about and
// /metrics.
func TestMicroVMPrograms(t *testing.T) {
	_, image, prog := sandboxSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	agent, err := sandboxtest.Agent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := microvm.New(ctx, microvm.Config{Agent: agent, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close(ctx)
	k := startCore(t)
	rt := k.storeFile(t, image)
	n := startCRN(t, k, crnOpts{sandbox: vm})

	checkHeaders := func(resp *http.Response, prog, code string) {
		t.Helper()
		h := resp.Header
		if h.Get("Aleph-Program-ItemHash") != prog || h.Get("Aleph-Program-Code-Ref") != code ||
			!strings.HasPrefix(h.Get("Server"), "aleph-vm/goaleph-") {
			t.Errorf("headers %v", h)
		}
	}

	asgiRef := k.store(t, asgiCode(t, "microvm"), "")
	asgi := k.program(t, asgiRef, programOpts{encoding: "zip", entrypoint: "main:app", runtime: rt,
		memory: 256, seconds: 60, variables: map[string]string{"GREETING": "vm"}})
	start := time.Now()
	resp, body := n.get(t, "/vm/"+asgi+"/")
	t.Logf("ASGI cold start in a micro VM (runtime download, unpack, image, snapshot): %s", time.Since(start))
	if resp.StatusCode != 200 || body != `{"hello":"aleph","greeting":"vm"}` {
		t.Fatalf("asgi: %d %s", resp.StatusCode, body)
	}
	checkHeaders(resp, asgi, asgiRef)

	plainRef := k.store(t, prog, "")
	plain := k.program(t, plainRef, programOpts{entrypoint: "server", iface: "binary", runtime: rt, memory: 128, seconds: 1})
	resp, body = n.get(t, "/vm/"+plain+"/echo?x=1")
	var echo struct{ Path, Query string }
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &echo) != nil || echo.Path != "/echo" || echo.Query != "x=1" {
		t.Fatalf("executable: %d %s", resp.StatusCode, body)
	}
	checkHeaders(resp, plain, plainRef)
	if resp, body = n.get(t, "/vm/"+plain+"/read?path=/etc/os-release"); !strings.Contains(body, "bookworm") {
		t.Errorf("os-release: %d %q", resp.StatusCode, body)
	}
	// Over resources.seconds (1 s): 504, and the program still serves.
	resp, body = n.get(t, "/vm/"+plain+"/sleep?d=20s")
	wantError(t, resp, body, http.StatusGatewayTimeout, "resource.seconds")
	if resp, body = n.get(t, "/vm/"+plain+"/echo"); resp.StatusCode != 200 {
		t.Errorf("after the timeout: %d %s", resp.StatusCode, body)
	}
	// Past its memory (128 MiB): a 5xx; the other program serves on.
	if resp, body = n.get(t, "/vm/"+plain+"/alloc?mib=512"); resp.StatusCode < 500 {
		t.Errorf("allocating 512 MiB of 128: %d %s", resp.StatusCode, body)
	}
	if resp, body = n.get(t, "/vm/"+asgi+"/"); resp.StatusCode != 200 {
		t.Errorf("the other program after the overrun: %d %s", resp.StatusCode, body)
	}

	_, body = n.get(t, "/about/usage/system")
	var usage struct {
		MicroVM struct{ Accelerator string } `json:"microvm"`
	}
	if err := json.Unmarshal([]byte(body), &usage); err != nil || usage.MicroVM.Accelerator != vm.Accel() {
		t.Errorf("/about/usage/system: accelerator %q, want %q (%v)", usage.MicroVM.Accelerator, vm.Accel(), err)
	}
	_, body = n.get(t, "/metrics")
	if want := `aleph_crn_vm_accelerator{accelerator="` + vm.Accel() + `",backend="microvm"} 1`; !strings.Contains(body, want) {
		t.Errorf("metrics lack %s", want)
	}
}
