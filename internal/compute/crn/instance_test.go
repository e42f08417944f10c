package crn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/compute/microvm"
	"github.com/goaleph/goaleph/internal/compute/microvm/machinetest"
	"github.com/goaleph/goaleph/internal/compute/sandbox/sandboxtest"
	"github.com/goaleph/goaleph/message"
)

// TestInstance is an INSTANCE's life through a core node and the compute
// node: the owner's notify starts it, Debian's ssh reaches it with the
// message's key (another key is refused), a file written to its persistent
// volume survives the owner's reboot, the logs show its console, a
// stranger's operations are refused, and the owner's erase leaves no
// process, disk or port.
func TestInstance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	img, err := machinetest.Image(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
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
	rootfs := k.storeFile(t, filepath.Join(img, "rootfs.squashfs"))
	n := startCRN(t, k, crnOpts{adjust: func(c *Config) { c.Instances, c.InstanceForwardAddr = vm, "127.0.0.1" }})

	dir := t.TempDir()
	key, pub := machinetest.Key(t, dir, "owner")
	wrong, _ := machinetest.Key(t, dir, "stranger")
	hash := k.publish(t, message.TypeInstance, map[string]any{
		"allow_amend": false, "authorized_keys": []string{pub},
		"environment": map[string]any{"internet": true},
		"resources":   map[string]any{"vcpus": 1, "memory": 256, "seconds": 30},
		"rootfs": map[string]any{"parent": map[string]any{"ref": rootfs, "use_latest": true},
			"persistence": "host", "size_mib": 512},
		"volumes": []any{map[string]any{"name": "data", "mount": "/mnt/data", "persistence": "host", "size_mib": 16}},
	})

	// A PROGRAM is not an instance; a body without a hash is refused.
	resp, body := n.do(t, "POST", "/control/allocation/notify", "", strings.NewReader(`{"instance": 1}`))
	wantError(t, resp, body, http.StatusBadRequest, "instance")

	t0 := time.Now()
	resp, body = n.do(t, "POST", "/control/allocation/notify", "", strings.NewReader(`{"instance": "`+hash+`"}`))
	if resp.StatusCode != 200 || !strings.Contains(body, `"success":true`) {
		t.Fatalf("notify: %d %s", resp.StatusCode, body)
	}
	t.Logf("notify to SSH (image download, disks, boot) in %v", time.Since(t0))
	port := sshPortOf(t, n, hash)

	out, err := machinetest.SSH(ctx, key, port, "hostname; echo kept > /mnt/data/f; sync")
	if err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("ssh with the message's key: %v %q", err, out)
	}
	if out, err := machinetest.SSH(ctx, wrong, port, "true"); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("ssh with another key: %v %q; want Permission denied", err, out)
	}

	// A stranger's signature is refused.
	stranger := ethtest.Account(t)
	resp, body = ownerDo(t, n, stranger, "POST", "/control/machine/"+hash+"/reboot")
	wantError(t, resp, body, http.StatusForbidden, "not the owner")

	resp, body = ownerDo(t, n, k.a, "POST", "/control/machine/"+hash+"/reboot")
	if resp.StatusCode != 200 || !strings.Contains(body, "Rebooted VM "+hash) {
		t.Fatalf("reboot: %d %s", resp.StatusCode, body)
	}
	port = sshPortOf(t, n, hash)
	if out, err := machinetest.SSH(ctx, key, port, "cat /mnt/data/f"); err != nil || out != "kept\n" {
		t.Errorf("after the reboot: %v %q", err, out)
	}

	resp, body = ownerDo(t, n, k.a, "GET", "/control/machine/"+hash+"/logs")
	var logs []logEntry
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &logs) != nil || !strings.Contains(body, "instance ready") {
		t.Errorf("logs: %d %.300s", resp.StatusCode, body)
	}

	vi := n.s.lookupInstance(hash)
	pids := vi.m.Pids()
	resp, body = ownerDo(t, n, k.a, "POST", "/control/machine/"+hash+"/erase")
	if resp.StatusCode != 200 {
		t.Fatalf("erase: %d %s", resp.StatusCode, body)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d left after erase (%v)", pid, err)
		}
	}
	if _, err := os.Stat(filepath.Join(n.s.cfg.CacheDir, "instances", hash)); !os.IsNotExist(err) {
		t.Errorf("the instance's disks are left after erase (%v)", err)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second); err == nil {
		c.Close()
		t.Errorf("port %d open after erase", port)
	}
	if _, body = n.get(t, "/v2/about/executions/list"); strings.Contains(body, hash) {
		t.Errorf("the erased instance is still listed: %s", body)
	}
}

// sshPortOf reads the instance's SSH port forward from
// /v2/about/executions/list.
func sshPortOf(t *testing.T, n *node, hash string) int {
	t.Helper()
	_, body := n.get(t, "/v2/about/executions/list")
	var list map[string]struct {
		Networking struct {
			MappedPorts map[string]struct {
				Host int  `json:"host"`
				TCP  bool `json:"tcp"`
			} `json:"mapped_ports"`
		} `json:"networking"`
		Running bool   `json:"running"`
		VMType  string `json:"vm_type"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err, body)
	}
	e := list[hash]
	if !e.Running || e.VMType != "instance" || e.Networking.MappedPorts["22"].Host == 0 || !e.Networking.MappedPorts["22"].TCP {
		t.Fatalf("executions list: %s", body)
	}
	return e.Networking.MappedPorts["22"].Host
}

// ownerDo sends an owner operation signed by s.
func ownerDo(t *testing.T, n *node, s message.Signer, method, path string) (*http.Response, string) {
	t.Helper()
	h, err := OwnerHeaders(s, "crn.test", method, path, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, n.url+path, bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return send(t, req)
}
