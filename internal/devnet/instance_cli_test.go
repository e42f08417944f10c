package devnet_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute/microvm/machinetest"
	"github.com/goaleph/goaleph/internal/syncbuf"
	"github.com/goaleph/goaleph/internal/testbuild"
)

// TestInstanceCLI is an instance's life as a user lives it, with the aleph
// binary only: `aleph devnet` (one core node and its compute node, which
// runs instances in QEMU; the devnet publishes the Debian 12 instance
// image), then `aleph instance create` with an SSH key, Debian's ssh into
// the VM with that key (another key is refused), a file written to the
// persistent volume, `aleph instance reboot`, the file still there, the
// console in `aleph instance logs`, and `aleph instance delete`, which
// leaves no QEMU or slirp4netns process, no disk and no listening port.
// An instance the node cannot run is refused with a 4xx and leaves nothing.
func TestInstanceCLI(t *testing.T) {
	for _, tool := range []string{"qemu-system-x86_64", "ssh", "ssh-keygen", "slirp4netns", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is missing (scripts/install-deps.sh installs it)", tool)
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	root, err := testbuild.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	bin := filepath.Join(work, "aleph")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/goaleph/goaleph/cmd/aleph").CombinedOutput(); err != nil {
		t.Fatalf("build aleph: %v\n%s", err, out)
	}
	// The image is built here, not by the devnet, so that its time (once)
	// shows apart.
	if _, err := machinetest.Image(root); err != nil {
		t.Fatal(err)
	}
	t.Logf("aleph built, instance image ready in %v", time.Since(start).Round(time.Second))

	d := startDevnetBinary(t, ctx, bin, root, filepath.Join(work, "devnet"))
	t.Logf("devnet up in %v: core node %s, compute node %s, instance image %s",
		time.Since(start).Round(time.Second), d.env["ALEPH_API_URL"], d.env["ALEPH_CRN_URL"], d.env["ALEPH_DEFAULT_ROOTFS"])
	u := &cliUser{t: t, bin: bin, env: d.env, config: filepath.Join(work, "user")}
	u.run("account", "create")
	key, _ := machinetest.Key(t, work, "owner")
	wrong, _ := machinetest.Key(t, work, "stranger")

	// A root disk smaller than the image: published, refused by the node
	// with the size needed (4xx), nothing left on it; delete then only
	// forgets the message.
	msg := u.fail("instance", "create", "--ssh-pubkey-file", key+".pub", "--rootfs-size", "64", "--memory", "256")
	m := regexp.MustCompile(`instance ([0-9a-f]{64}) is published but .* answered 422: .*less than the image needs`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("create with a 64 MiB root disk: %q; want a 422 naming the size needed", msg)
	}
	if _, err := os.Stat(filepath.Join(d.dir, "compute", "cache", "instances", m[1])); !os.IsNotExist(err) {
		t.Errorf("the refused instance left its directory (%v)", err)
	}
	var forgot struct {
		Status string `json:"status"`
		Erased string `json:"erased"`
	}
	u.json(&forgot, "instance", "delete", m[1])
	if forgot.Status != "processed" || !strings.HasPrefix(forgot.Erased, "not on ") {
		t.Errorf("delete of an instance the node does not run: %+v", forgot)
	}

	var created struct {
		ItemHash string `json:"item_hash"`
		Status   string `json:"status"`
		SSHPort  int    `json:"ssh_port"`
		SSH      string `json:"ssh"`
	}
	t0 := time.Now()
	u.json(&created, "instance", "create", "--name", "acceptance", "--ssh-pubkey-file", key+".pub",
		"--rootfs-size", "1024", "--vcpus", "1", "--memory", "256",
		"--persistent-volume", "name=data,mount=/mnt/data,size_mib=16")
	hash, port := created.ItemHash, created.SSHPort
	t.Logf("instance create (publish, notify, image, disks, boot) in %v", time.Since(t0).Round(time.Second))
	if created.Status != "processed" || port == 0 || created.SSH != fmt.Sprintf("ssh -p %d root@127.0.0.1", port) {
		t.Fatalf("create: %+v", created)
	}

	out, err := machinetest.SSH(ctx, key, port, "hostname; echo kept > /mnt/data/f; sync")
	if err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("ssh with the message's key: %v %q", err, out)
	}
	if out, err := machinetest.SSH(ctx, wrong, port, "true"); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("ssh with another key: %v %q; want Permission denied", err, out)
	}

	var list struct {
		Instances []struct {
			ItemHash string `json:"item_hash"`
			Name     string `json:"name"`
			Running  bool   `json:"running"`
			SSH      string `json:"ssh"`
		} `json:"instances"`
	}
	u.json(&list, "instance", "list")
	if len(list.Instances) != 1 || list.Instances[0].ItemHash != hash || !list.Instances[0].Running ||
		list.Instances[0].Name != "acceptance" || list.Instances[0].SSH != created.SSH {
		t.Errorf("list: %+v", list)
	}

	if out := u.run("instance", "list"); !strings.Contains(out, hash+"  acceptance") || !strings.Contains(out, created.SSH) {
		t.Errorf("list (table):\n%s", out)
	}

	// The human output this time: the answer, then the new SSH command.
	t0 = time.Now()
	out = u.run("instance", "reboot", hash)
	t.Logf("instance reboot in %v", time.Since(t0).Round(time.Second))
	m = regexp.MustCompile(`^Rebooted VM ` + hash + `\nssh: ssh -p (\d+) root@127\.0\.0\.1\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("reboot: %q", out)
	}
	port, _ = strconv.Atoi(m[1])
	if out, err := machinetest.SSH(ctx, key, port, "cat /mnt/data/f"); err != nil || out != "kept\n" {
		t.Errorf("after the reboot: %v %q", err, out)
	}
	if logs := u.run("instance", "logs", hash); !strings.Contains(logs, "instance ready") {
		t.Errorf("logs: %.500s", logs)
	}

	procs := vmProcesses(d.cmd.Process.Pid)
	if len(procs) == 0 {
		t.Fatalf("no qemu or slirp4netns process under the devnet (pid %d) while the instance runs", d.cmd.Process.Pid)
	}
	disks := filepath.Join(d.dir, "compute", "cache", "instances", hash)
	if _, err := os.Stat(disks); err != nil {
		t.Fatalf("the instance's disks: %v", err)
	}
	var deleted struct {
		Status string `json:"status"`
		Erased string `json:"erased"`
	}
	u.json(&deleted, "instance", "delete", hash)
	if deleted.Status != "processed" || deleted.Erased != "Erased VM "+hash {
		t.Errorf("delete: %+v", deleted)
	}
	for pid, comm := range procs {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) left after delete (%v)", comm, pid, err)
		}
	}
	if left := vmProcesses(d.cmd.Process.Pid); len(left) > 0 {
		t.Errorf("processes left after delete: %v", left)
	}
	if _, err := os.Stat(disks); !os.IsNotExist(err) {
		t.Errorf("the instance's disks are left after delete (%v)", err)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second); err == nil {
		c.Close()
		t.Errorf("port %d open after delete", port)
	}
	// Forgotten: the node will not start it again, and says why (4xx).
	if msg := u.fail("instance", "allocate", hash); !strings.Contains(msg, "answered 404") {
		t.Errorf("allocate after delete: %q; want a 404", msg)
	}
	d.stop(t)
	t.Logf("TestInstanceCLI: %v in all", time.Since(start).Round(time.Second))
}

// devnetProc is an `aleph devnet` process.
type devnetProc struct {
	cmd  *exec.Cmd
	dir  string
	env  map[string]string // its export line
	out  *syncbuf.Buffer   // stdout and stderr
	done chan error
	once sync.Once
}

// startDevnetBinary runs `aleph devnet` with one core node, no chain and
// no gateway, and waits for its export line.
func startDevnetBinary(t *testing.T, ctx context.Context, bin, root, dir string) *devnetProc {
	t.Helper()
	d := &devnetProc{dir: dir, env: map[string]string{}, out: new(syncbuf.Buffer), done: make(chan error, 1)}
	d.cmd = exec.Command(bin, "devnet", "--nodes", "1", "--no-chain", "--no-gateway", "--no-python-runtime",
		"--data-dir", dir, "--log-level", "info")
	d.cmd.Dir = root // a checkout: the devnet builds the agent and finds the image's script
	pr, pw := io.Pipe()
	d.cmd.Stdout, d.cmd.Stderr = io.MultiWriter(pw, d.out), d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait(); pw.Close() }()
	t.Cleanup(func() { d.stop(t) })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "export ") {
				lines <- sc.Text()
			}
		}
		close(lines)
		io.Copy(io.Discard, pr)
	}()
	deadline := time.NewTimer(15 * time.Minute) // a first run builds the agent (and the image)
	defer deadline.Stop()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("aleph devnet ended before its export line:\n%s", d.out)
		}
		for _, kv := range strings.Fields(strings.TrimPrefix(line, "export ")) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				d.env[k] = v
			}
		}
	case <-deadline.C:
		t.Fatalf("no export line from aleph devnet after 15 min:\n%s", d.out)
	case <-ctx.Done():
		t.Fatalf("aleph devnet: %v\n%s", ctx.Err(), d.out)
	}
	if d.env["ALEPH_DEFAULT_ROOTFS"] == "" || d.env["ALEPH_CRN_URL"] == "" {
		t.Fatalf("the devnet publishes no instance image: %v\n%s", d.env, d.out)
	}
	return d
}

// stop interrupts the devnet (Ctrl-C) and waits for it, once.
func (d *devnetProc) stop(t *testing.T) {
	d.once.Do(func() { d.interrupt(t) })
}

func (d *devnetProc) interrupt(t *testing.T) {
	d.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("aleph devnet: %v\n%s", err, d.out)
		}
	case <-time.After(2 * time.Minute):
		d.cmd.Process.Kill()
		<-d.done
		t.Errorf("aleph devnet did not stop in 2 min after Ctrl-C:\n%s", d.out)
	}
}

// cliUser runs the aleph binary as one user of the devnet.
type cliUser struct {
	t           *testing.T
	bin, config string
	env         map[string]string
}

func (u *cliUser) cmd(args ...string) *exec.Cmd {
	c := exec.Command(u.bin, args...)
	c.Env = append(os.Environ(), "ALEPH_CONFIG_HOME="+u.config, "ALEPH_CHANNEL=TEST")
	for k, v := range u.env {
		c.Env = append(c.Env, k+"="+v)
	}
	return c
}

// run runs the binary and returns its output, failing the test unless it
// succeeds.
func (u *cliUser) run(args ...string) string {
	u.t.Helper()
	var out, errb bytes.Buffer
	c := u.cmd(args...)
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		u.t.Fatalf("aleph %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// json runs the binary with --json and decodes its output into v.
func (u *cliUser) json(v any, args ...string) {
	u.t.Helper()
	out := u.run(append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		u.t.Fatalf("aleph %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fail runs the binary, expects it to fail and returns its error line.
func (u *cliUser) fail(args ...string) string {
	u.t.Helper()
	out, err := u.cmd(args...).CombinedOutput()
	if err == nil {
		u.t.Fatalf("aleph %s succeeded: %s", strings.Join(args, " "), out)
	}
	return strings.TrimSpace(string(out))
}

// vmProcesses are the qemu and slirp4netns processes among the
// descendants of pid, by pid.
func vmProcesses(pid int) map[int]string {
	parent := map[int]int{}
	comm := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(s[j+1:])
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		parent[p], comm[p] = pp, s[i+1:j]
	}
	out := map[int]string{}
	for p, c := range comm {
		if !strings.HasPrefix(c, "qemu-system") && c != "slirp4netns" {
			continue
		}
		for a := parent[p]; a > 1; a = parent[a] {
			if a == pid {
				out[p] = c
				break
			}
		}
	}
	return out
}
