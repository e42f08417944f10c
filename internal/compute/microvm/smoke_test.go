package microvm

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/sandbox/sandboxtest"
)

func TestSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	root, code := filepath.Join(dir, "root"), filepath.Join(dir, "code")
	if err := sandboxtest.Runtime(root); err != nil {
		t.Fatal(err)
	}
	ent, err := sandboxtest.Code(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := sandboxtest.Agent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, Config{Agent: agent, BootTimeout: 40 * time.Second, StateDir: dir, NoSnapshots: os.Getenv("SNAP") == ""})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	t.Log("accel", b.Accel())
	spec := compute.Spec{ProgramHash: "cafe", Interface: compute.Executable, Entrypoint: ent, Code: code, Runtime: root, MemoryMiB: 128, Timeout: 30 * time.Second}
	for i := 0; i < 2; i++ {
		t0 := time.Now()
		in, err := b.Prepare(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Start(ctx); err != nil {
			t.Fatal(err, in.Logs())
		}
		t1 := time.Now()
		if err := in.Ready(ctx); err != nil {
			t.Fatal(err, in.Logs())
		}
		t.Logf("ready %v", time.Since(t1))
		resp, err := in.Call(ctx, &compute.Scope{Type: "http", Method: "GET", Path: "/echo"})
		if err != nil {
			t.Fatal(err, in.Logs())
		}
		t.Logf("start %v total %v: %d %s", t1.Sub(t0), time.Since(t0), resp.Status, resp.Body)
		t2 := time.Now()
		dir := in.(*instance).dir
		in.(*instance).b.cfg.Logger.Info("console", "c", readConsole(dir))
		if err := in.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("stop %v", time.Since(t2))
	}
}
