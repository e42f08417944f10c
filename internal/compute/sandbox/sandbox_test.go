package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/backendtest"
	"github.com/goaleph/goaleph/internal/compute/sandbox/sandboxtest"
)

// The tests run real bwrap sandboxes: a minimal runtime root built here
// (mount points and an /etc), the static guest agent, and the static test
// program of sandboxtest as the code.

var fixture struct {
	once                   sync.Once
	agent, root, code, ent string
	err                    error
}

func setup(t testing.TB) (*Backend, compute.Spec) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("bwrap is missing (install bubblewrap: scripts/install-deps.sh)")
		}
		t.Skip("bwrap is missing (install bubblewrap)")
	}
	fixture.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		dir, err := os.MkdirTemp("", "sandbox-test-")
		if err != nil {
			fixture.err = err
			return
		}
		fixture.root = filepath.Join(dir, "root")
		fixture.code = filepath.Join(dir, "code")
		if fixture.err = sandboxtest.Runtime(fixture.root); fixture.err != nil {
			return
		}
		if fixture.ent, fixture.err = sandboxtest.Code(ctx, fixture.code); fixture.err != nil {
			return
		}
		fixture.agent, fixture.err = sandboxtest.Agent(ctx)
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	b, err := New(Config{Agent: fixture.agent, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	spec := compute.Spec{
		ProgramHash: "cafe0123456789abcdef",
		Interface:   compute.Executable,
		Entrypoint:  fixture.ent,
		Code:        fixture.code,
		Runtime:     fixture.root,
		MemoryMiB:   128,
		Timeout:     30 * time.Second,
		Variables:   map[string]string{"GREETING": "hello"},
	}
	return b, spec
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.root != "" {
		os.RemoveAll(filepath.Dir(fixture.root))
	}
	os.Exit(code)
}

func testCtx(t testing.TB) context.Context { return backendtest.Ctx(t) }

// run prepares, starts and readies spec; the instance is stopped at the
// test's end.
func run(t testing.TB, b *Backend, spec compute.Spec) compute.Instance {
	t.Helper()
	return backendtest.Start(t, b, spec)
}

func get(t testing.TB, in compute.Instance, path, query string) string {
	t.Helper()
	return backendtest.Get(t, in, path, query)
}

// TestConformance runs the backends' shared suite on the sandbox.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t testing.TB) backendtest.Harness {
		b, spec := setup(t)
		return backendtest.Harness{
			Backend: b, Spec: spec,
			ASGIRuntime: asgiRoot(t), ASGIVolumes: []compute.Volume{{Mount: "/usr", Source: "/usr", ReadOnly: true}},
			Hostname: hostname,
			Running:  running,
		}
	})
}

// asgiRoot is a runtime for python3 without building the Debian one: the
// minimal root with the host's /usr as a read-only volume, which is what
// python3 needs on a merged-/usr Debian.
func asgiRoot(t testing.TB) string {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is missing (scripts/install-deps.sh)")
	}
	root := filepath.Join(t.TempDir(), "root")
	if err := sandboxtest.Runtime(root); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		if err := os.Symlink("usr/"+l, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// running lists a sandbox's processes (those of its PID namespace, bwrap)
// and its state directory, for what is left of them.
func running(t testing.TB, in compute.Instance) func() []string {
	sb := in.(*instance)
	ns, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(sb.childPid), "ns", "pid"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(nsProcesses(ns)); n < 2 {
		t.Fatalf("%d processes in the sandbox, want the agent and the program", n)
	}
	return func() []string {
		var left []string
		for _, p := range nsProcesses(ns) {
			left = append(left, "process "+p+" of the sandbox's namespace")
		}
		for _, pid := range []int{sb.childPid, sb.cmd.Process.Pid} {
			if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
				left = append(left, fmt.Sprintf("process %d (%v)", pid, err))
			}
		}
		if _, err := os.Stat(sb.dir); !os.IsNotExist(err) {
			left = append(left, "state directory "+sb.dir)
		}
		return left
	}
}

// nsProcesses lists the host pids of processes in the PID namespace ns
// ("pid:[…]").
func nsProcesses(ns string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "pid")); err == nil && l == ns {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func TestPrepareRejects(t *testing.T) {
	b, spec := setup(t)
	// program: the failure is the program's (compute.ErrInvalidSpec, no
	// host path in the text), else the node's.
	bad := map[string]struct {
		program bool
		mutate  func(*compute.Spec)
	}{
		"no runtime":          {false, func(s *compute.Spec) { s.Runtime = "" }},
		"missing runtime":     {false, func(s *compute.Spec) { s.Runtime = "/nonexistent" }},
		"runtime not a root":  {true, func(s *compute.Spec) { s.Runtime = s.Code }},
		"entrypoint outside":  {true, func(s *compute.Spec) { s.Entrypoint = "../root/etc/passwd" }},
		"missing entrypoint":  {true, func(s *compute.Spec) { s.Entrypoint = "nope" }},
		"asgi without app":    {true, func(s *compute.Spec) { s.Interface = compute.ASGI; s.Entrypoint = "main" }},
		"asgi module missing": {true, func(s *compute.Spec) { s.Interface = compute.ASGI; s.Entrypoint = "nope:app" }},
		"wasm":                {true, func(s *compute.Spec) { s.Interface = compute.WASM }},
		"volume on /proc":     {true, func(s *compute.Spec) { s.Volumes = []compute.Volume{{Mount: "/proc/x", Source: s.Code}} }},
		"volume missing":      {false, func(s *compute.Spec) { s.Volumes = []compute.Volume{{Mount: "/usr", Source: "/nonexistent"}} }},
		"volume mount absent": {true, func(s *compute.Spec) { s.Volumes = []compute.Volume{{Mount: "/data", Source: s.Code}} }},
		"no memory":           {true, func(s *compute.Spec) { s.MemoryMiB = 0 }},
	}
	for name, c := range bad {
		s := spec
		c.mutate(&s)
		_, err := b.Prepare(testCtx(t), s)
		switch {
		case err == nil:
			t.Errorf("%s: Prepare accepted it", name)
		case errors.Is(err, compute.ErrInvalidSpec) != c.program:
			t.Errorf("%s: %v; the program's fault (ErrInvalidSpec): %v, want %v", name, err, !c.program, c.program)
		case c.program && (strings.Contains(err.Error(), spec.Code) || strings.Contains(err.Error(), spec.Runtime)):
			t.Errorf("%s: %v names a host path", name, err)
		}
	}
	// An ASGI module of the code is found.
	if err := os.WriteFile(filepath.Join(spec.Code, "app.py"), []byte("app = None\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := spec
	s.Interface, s.Entrypoint = compute.ASGI, "app:app"
	if _, err := b.Prepare(testCtx(t), s); err != nil {
		t.Errorf("ASGI app.py: %v", err)
	}
}

// TestRootOverlay checks the program's writable root: its writes go to a
// tmpfs of its own, bounded in size, never to the runtime, and it cannot
// undo the overlay.
func TestRootOverlay(t *testing.T) {
	b, spec := setup(t)
	in := run(t, b, spec)
	for p, data := range map[string]string{"/etc/aleph-test": "etc", "/usr/local/x": "usr local", "/root/y": "root"} {
		if got := get(t, in, "/write", url.Values{"path": {p}, "data": {data}}.Encode()); got != "ok" {
			t.Errorf("write %s: %s", p, got)
		}
		if got := get(t, in, "/read", "path="+p); got != data {
			t.Errorf("read %s back: %q", p, got)
		}
	}
	// The runtime's files are still there, the runtime unchanged.
	if got := get(t, in, "/read", "path=/etc/passwd"); !strings.Contains(got, "nobody") {
		t.Errorf("the runtime's /etc/passwd: %q", got)
	}
	for _, p := range []string{"etc/aleph-test", "usr/local", "root"} {
		if _, err := os.Lstat(filepath.Join(spec.Runtime, p)); !os.IsNotExist(err) {
			t.Errorf("the runtime directory has %s: %v", p, err)
		}
	}
	// Another instance of the same runtime has a root of its own.
	other := run(t, b, spec)
	if got := get(t, other, "/read", "path=/etc/aleph-test"); !strings.HasPrefix(got, "error") {
		t.Errorf("a second instance sees the first's write: %q", got)
	}

	// No capability, in the program or the agent, and no way to mount,
	// unmount or make a user namespace in which it would have some.
	for _, p := range []string{"/proc/self/status", "/proc/1/status"} {
		status := get(t, in, "/read", "path="+p)
		for _, c := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			if !strings.Contains(status, c+":\t0000000000000000\n") {
				t.Errorf("%s: %s not zero:\n%s", p, c, status)
			}
		}
	}
	for _, c := range []struct{ path, query string }{
		{"/mount", "path=/tmp"},
		{"/mount", "path=/etc"},
		{"/umount", "path=/"},
		{"/umount", "path=/opt/code"},
		{"/umount", "path=/proc"},
		{"/userns", ""},
	} {
		got := get(t, in, c.path, c.query)
		if !strings.HasPrefix(got, "error") {
			t.Errorf("%s?%s in the sandbox: %s", c.path, c.query, got)
		}
		t.Logf("%s?%s: %s", c.path, c.query, got)
	}
	mounts := get(t, in, "/read", "path=/proc/self/mountinfo")
	if strings.Contains(mounts, spec.Runtime) || strings.Contains(mounts, " "+overlayDir) {
		t.Errorf("the sandbox's mounts show the runtime's or bwrap's root:\n%s", mounts)
	}
}

func TestRootOverlayFull(t *testing.T) {
	b, spec := setup(t)
	b.cfg.TmpMiB = 8
	in := run(t, b, spec)
	got := get(t, in, "/write", "path=/var/big&mib=16")
	if !strings.Contains(got, "no space left on device") {
		t.Errorf("writing 16 MiB on an 8 MiB overlay: %q", got)
	}
	get(t, in, "/echo", "") // still serving
}
