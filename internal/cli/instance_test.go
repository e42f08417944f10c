package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute/sandbox/sandboxtest"
)

// TestInstanceErrors: the instance commands refuse bad input with one
// clear line before anything is published, and list works without a
// compute node. (The whole life of an instance, on a devnet with QEMU, is
// internal/devnet's TestInstanceCLI.)
func TestInstanceErrors(t *testing.T) {
	api := startNode(t)
	e := newEnv(t, api)
	e.ok("account", "create")
	dir := t.TempDir()
	key := filepath.Join(dir, "id.pub")
	if err := os.WriteFile(key, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGULT6A41Msmw2KEu0R9MvUjhuWNAsbdeZ0DOwYbt4Qt k\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notKey := filepath.Join(dir, "notkey")
	os.WriteFile(notKey, []byte("hello"), 0o644)
	var post writeResult
	e.okJSON(&post, "post", "create", "--type", "note", "--content", `{"a":1}`)
	file := filepath.Join(dir, "image")
	os.WriteFile(file, bytes.Repeat([]byte("x"), 1000), 0o644)
	var store writeResult
	e.okJSON(&store, "file", "upload", file)
	dead := "http://127.0.0.1:1"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"instance", "create", "--ssh-pubkey-file", key}, "no root image"},
		{[]string{"instance", "create", "--rootfs", "abc", "--ssh-pubkey-file", key}, "--rootfs"},
		{[]string{"instance", "create", "--rootfs", store.ItemHash, "--ssh-pubkey-file", filepath.Join(dir, "none")}, "--ssh-pubkey-file"},
		{[]string{"instance", "create", "--rootfs", store.ItemHash, "--ssh-pubkey-file", notKey}, "not an SSH public key"},
		{[]string{"instance", "create", "--rootfs", store.ItemHash, "--ssh-pubkey-file", key, "--vcpus", "0"}, "at least 1"},
		{[]string{"instance", "create", "--rootfs", store.ItemHash, "--ssh-pubkey-file", key, "--payment-type", "gold"}, "--payment-type"},
		{[]string{"instance", "create", "--rootfs", store.ItemHash, "--ssh-pubkey-file", key, "--persistent-volume", "name=d,size_mib=1"}, "absolute mount"},
		{[]string{"instance", "create", "--rootfs", post.ItemHash, "--ssh-pubkey-file", key}, "not a processed STORE"},
		{[]string{"instance", "create", "--rootfs", strings.Repeat("ab", 32), "--ssh-pubkey-file", key}, "not found"},
		{[]string{"instance", "delete", post.ItemHash, "--crn-url", dead}, "not an INSTANCE"},
		{[]string{"instance", "reboot", "xyz"}, "not an item hash"},
		{[]string{"instance", "logs", store.ItemHash, "--crn-url", dead}, "127.0.0.1:1"},
	} {
		if got := e.fails(tc.args...); !strings.Contains(got, tc.want) {
			t.Errorf("aleph %s: %q; want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}

	// Published, but the node cannot start it: the error names the
	// instance so that it can be deleted.
	got := e.fails("instance", "create", "--rootfs", store.ItemHash, "--rootfs-size", "64", "--memory", "64",
		"--ssh-pubkey-file", key, "--crn-url", dead)
	if !strings.Contains(got, "is published but") || !strings.Contains(got, "aleph instance delete") {
		t.Errorf("create with no compute node: %q", got)
	}
	var list struct {
		Instances []struct {
			ItemHash string `json:"item_hash"`
			Running  bool   `json:"running"`
		} `json:"instances"`
		CRNError string `json:"crn_error"`
	}
	e.okJSON(&list, "instance", "list", "--crn-url", dead)
	if len(list.Instances) != 1 || list.Instances[0].Running || list.CRNError == "" {
		b, _ := json.Marshal(list)
		t.Errorf("list: %s", b)
	}
	// The node cannot be reached: delete stops before the FORGET.
	if got := e.fails("instance", "delete", list.Instances[0].ItemHash, "--crn-url", dead); !strings.Contains(got, "erase on") {
		t.Errorf("delete with no compute node: %q", got)
	}
}

// TestComputeRunInstances: aleph compute run runs instances with
// --instances or --microvm (notify reaches the message lookup: 404 for an
// unknown hash), and none without (501).
func TestComputeRunInstances(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is missing (scripts/install-deps.sh installs it)")
	}
	agent, err := sandboxtest.Agent(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	api := startNode(t)
	e := newEnv(t, api)
	unknown := strings.Repeat("cd", 32)
	for _, tc := range []struct {
		name, flag string
		status     int
	}{{"instances", "--instances", http.StatusNotFound}, {"microvm", "--microvm", http.StatusNotFound},
		{"none", "", http.StatusNotImplemented}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			args := []string{"compute", "run", "--core-url", api, "--listen", addr, "--cache-dir", t.TempDir(),
				"--sandbox-agent", agent, "--no-announce", "--log-level", "error"}
			if tc.flag != "" {
				args = append(args, tc.flag)
			}
			run := e.cmd(args...)
			var stderr bytes.Buffer
			run.Stderr = &stderr
			if err := run.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				run.Process.Signal(os.Interrupt)
				run.Wait()
			}()
			n := client.NewCRN("http://" + addr)
			deadline := time.Now().Add(2 * time.Minute) // the micro VM backend builds its initramfs first
			for {
				err = n.NotifyInstance(t.Context(), unknown)
				var ce *client.Error
				if errors.As(err, &ce) {
					if ce.Status != tc.status {
						t.Errorf("notify: %v; want %d", err, tc.status)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("compute node: %v; stderr %s", err, stderr.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// TestVolumeFlag reads --persistent-volume in the Python CLI's form.
func TestVolumeFlag(t *testing.T) {
	v, err := volumeFlag("name=data,mount=/mnt/data,size_mib=1024")
	if err != nil || v.Name != "data" || v.Mount != "/mnt/data" || v.SizeMiB != 1024 || v.Persistence != "host" {
		t.Errorf("%+v %v", v, err)
	}
	if v, err := volumeFlag(" name=d , mount=/d , size_mib=8 , persistence=store, comment=c"); err != nil ||
		v.Persistence != "store" || v.Comment != "c" || v.Mount != "/d" {
		t.Errorf("%+v %v", v, err)
	}
	for _, bad := range []string{"", "name=d", "name=d,mount=rel,size_mib=8", "name=d,mount=/d,size_mib=0",
		"name=d,mount=/d,size_mib=x", "name=d,mount=/d,size_mib=8,persistence=disk", "name=d,mount=/d,size_mib=8,ref=x",
		"mount=/d,size_mib=8", "name=d,mount=/d,size_mib"} {
		if _, err := volumeFlag(bad); err == nil || !strings.Contains(err.Error(), "--persistent-volume") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestInstallMissing installs nothing when every tool is there.
func TestInstallMissing(t *testing.T) {
	there := func() bool { return true }
	if err := installMissing(t.Context(), io.Discard, []hostTool{{"sh", "dash", nil}, {"kernel", "linux-image-cloud-amd64", there}}); err != nil {
		t.Error(err)
	}
}

// TestDevnetHostTools: the devnet installs every backend's tools, bubblewrap
// included (a fresh machine got a compute node of WASM programs only), and
// each is one scripts/install-deps.sh installs too.
func TestDevnetHostTools(t *testing.T) {
	script, err := os.ReadFile("../../scripts/install-deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmds := map[string]bool{}
	for _, tools := range [][]hostTool{sandboxHostTools, instanceHostTools} {
		for _, tool := range tools {
			cmds[tool.cmd] = true
			if !strings.Contains(string(script), fmt.Sprintf("%q", tool.cmd+" "+tool.pkg)) {
				t.Errorf("scripts/install-deps.sh does not install %s (%s)", tool.cmd, tool.pkg)
			}
		}
	}
	for _, c := range []string{"bwrap", "slirp4netns", "unsquashfs", "qemu-system-x86_64", "vmlinuz", "mkfs.ext4"} {
		if !cmds[c] {
			t.Errorf("the devnet does not install %s", c)
		}
	}
}
