package microvm

import (
	"bytes"
	"context"
	"fmt"
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

// The tests run real QEMU micro VMs (TCG on these hosts): one backend per
// test binary, so that its snapshots serve every test; a minimal runtime
// for the test program, the Debian runtime of runtimes/ for ASGI.

var fixture struct {
	once            sync.Once
	b               *Backend
	dir, root, code string
	ent             string
	err             error
}

func setup(t testing.TB) (*Backend, compute.Spec) {
	t.Helper()
	f := &fixture
	f.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if f.dir, f.err = os.MkdirTemp("", "microvm-test-"); f.err != nil {
			return
		}
		f.root, f.code = filepath.Join(f.dir, "root"), filepath.Join(f.dir, "code")
		if f.err = sandboxtest.Runtime(f.root); f.err != nil {
			return
		}
		if f.ent, f.err = sandboxtest.Code(ctx, f.code); f.err != nil {
			return
		}
		agent, err := sandboxtest.Agent(ctx)
		if err != nil {
			f.err = err
			return
		}
		f.b, f.err = New(ctx, Config{Agent: agent, StateDir: f.dir})
	})
	if f.err != nil {
		t.Fatal(f.err)
	}
	return f.b, compute.Spec{
		ProgramHash: "beef0123456789abcdef",
		Interface:   compute.Executable,
		Entrypoint:  f.ent,
		Code:        f.code,
		Runtime:     f.root,
		MemoryMiB:   128,
		Timeout:     60 * time.Second,
		Variables:   map[string]string{"GREETING": "hello"},
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.b != nil {
		fixture.b.Close(context.Background())
	}
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

var debian struct {
	once sync.Once
	root string
	err  error
}

// debianRuntime builds (or finds cached) the Debian runtime of runtimes/.
func debianRuntime(t testing.TB) string {
	debian.once.Do(func() {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(filepath.Join("..", "..", "..", "runtimes", "debian-12-python", "build.sh"))
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			debian.err = fmt.Errorf("runtimes/debian-12-python/build.sh: %v\n%s", err, stderr.Bytes())
			return
		}
		debian.root = filepath.Join(strings.TrimSpace(stdout.String()), "rootfs")
	})
	if debian.err != nil {
		t.Fatal(debian.err)
	}
	return debian.root
}

// TestConformance runs the backends' shared suite on micro VMs.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t testing.TB) backendtest.Harness {
		b, spec := setup(t)
		return backendtest.Harness{
			Backend: b, Spec: spec, ASGIRuntime: debianRuntime(t),
			Hostname: compute.Hostname,
			Running:  running,
		}
	})
}

// running lists a VM's QEMU process and state directory, for what is left
// of them.
func running(t testing.TB, in compute.Instance) func() []string {
	vm := in.(*instance)
	pid := vm.cmd.Process.Pid
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("QEMU %d not running: %v", pid, err)
	}
	return func() []string {
		var left []string
		if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
			left = append(left, fmt.Sprintf("QEMU %d (%v)", pid, err))
		}
		if _, err := os.Stat(vm.dir); !os.IsNotExist(err) {
			left = append(left, "state directory "+vm.dir)
		}
		return left
	}
}

// TestRestoredIdentity checks that VMs restored from one snapshot do not
// share the snapshot's randomness or clock.
func TestRestoredIdentity(t *testing.T) {
	b, spec := setup(t)
	var uuids []string
	for range 2 {
		// A restored VM's clock, unless set, is the snapshot's: behind
		// the moment it was restored.
		t0 := time.Now()
		in := backendtest.Start(t, b, spec)
		if !in.(*instance).restored {
			t.Fatal("the VM was booted, not restored from a snapshot")
		}
		uuids = append(uuids, backendtest.Get(t, in, "/read", "path=/proc/sys/kernel/random/uuid"))
		ns, err := strconv.ParseInt(backendtest.Get(t, in, "/now", ""), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		const slack = 50 * time.Millisecond
		if now := time.Unix(0, ns); now.Before(t0.Add(-slack)) || now.After(time.Now().Add(slack)) {
			t.Errorf("the VM's clock says %v, not between its start %v and now", now, t0)
		}
	}
	if uuids[0] == uuids[1] {
		t.Errorf("two VMs restored from one snapshot draw the same random numbers: %s", uuids[0])
	}
}
