package microvm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A template is a snapshot of a VM booted to the agent's ready state: its
// memory in a file (mapped shared while it was made, privately by each VM
// restored from it, so that they share its pages until they write them)
// and its device state, saved with x-ignore-shared (the memory stays in the
// file). It is never written once made.
type template struct {
	dir   string // mem and state
	mem   string
	state string

	ready chan struct{}
	err   error
	made  time.Duration
}

type templateKey = shape

func (t *template) remove() { os.RemoveAll(t.dir) }

// template returns the snapshot of the shape, making it on first use.
func (b *Backend) template(ctx context.Context, s shape) (*template, error) {
	b.mu.Lock()
	t, ok := b.templates[s]
	if !ok {
		t = &template{ready: make(chan struct{})}
		b.templates[s] = t
		b.mu.Unlock()
		t.err = b.makeTemplate(ctx, s, t)
		if t.err != nil {
			b.mu.Lock()
			delete(b.templates, s)
			b.mu.Unlock()
		}
		close(t.ready)
	} else {
		b.mu.Unlock()
	}
	select {
	case <-t.ready:
		return t, t.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Snapshots tells how many snapshots the backend holds.
func (b *Backend) Snapshots() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.templates)
}

// makeTemplate boots a VM of shape s with its memory in a shared file,
// waits for the agent's hello, leaves the agent waiting for its next host,
// and saves the device state.
func (b *Backend) makeTemplate(ctx context.Context, s shape, t *template) (err error) {
	t0 := time.Now()
	if t.dir, err = os.MkdirTemp(b.cfg.MemDir, "aleph-vm-snapshot-"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			t.remove()
		}
	}()
	t.mem = filepath.Join(t.dir, "mem")
	t.state = filepath.Join(t.dir, "state")
	run, err := os.MkdirTemp(b.cfg.StateDir, "aleph-vm-snapshot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(run)
	v := &vm{shape: s, dir: run, code: filepath.Join(run, "code"), memFile: t.mem, share: true, mac: randomMAC()}
	// An empty code disk of the slot's size: the VMs restored from this
	// snapshot have theirs, of the same size, in its place.
	if err := os.WriteFile(v.code, nil, 0o644); err != nil {
		return err
	}
	if _, err := padTo(v.code, s.codeMiB); err != nil {
		return err
	}
	if s.internet {
		return fmt.Errorf("microvm: no snapshots of VMs with internet yet")
	}
	p, err := b.start(v)
	if err != nil {
		return err
	}
	defer p.kill()
	ctx, cancel := context.WithTimeout(ctx, b.cfg.BootTimeout)
	defer cancel()
	conn, err := p.connect(ctx)
	if err != nil {
		return err
	}
	// The agent says hello once it serves the port; closing the
	// connection sends it back to waiting for a host.
	hello := make([]byte, 1)
	_, err = conn.Read(hello)
	conn.Close()
	if err != nil {
		return fmt.Errorf("microvm: snapshot VM: no hello: %w: %s", err, readConsole(run))
	}
	// Snapshot the agent waiting for its next host: it says so on the
	// console, once at boot and once after this disconnection.
	if err := waitConsole(ctx, run, waitingLine, 2, p.done); err != nil {
		return err
	}
	q, err := dialQMP(ctx, filepath.Join(run, qmpSocket), p.done)
	if err != nil {
		return err
	}
	defer q.close()
	if _, err := q.do(ctx, "stop", nil); err != nil {
		return err
	}
	if err := q.ignoreShared(ctx); err != nil {
		return err
	}
	if _, err := q.do(ctx, "migrate", map[string]any{"uri": "exec:cat > " + shellQuote(t.state)}); err != nil {
		return err
	}
	if err := q.waitMigration(ctx); err != nil {
		return err
	}
	q.do(ctx, "quit", nil)
	if b, err := os.ReadFile(filepath.Join(run, consoleLog)); err == nil {
		os.WriteFile(filepath.Join(t.dir, consoleLog), b, 0o644)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
	t.made = time.Since(t0)
	b.cfg.Logger.Info("microvm: snapshot made", "memory_mib", s.memMiB, "vcpus", s.vcpus, "took", t.made)
	return nil
}

// restore loads the snapshot into a QEMU started with -incoming defer; the
// VM runs once it is loaded.
func restore(ctx context.Context, v *vm, t *template, exited <-chan struct{}) error {
	q, err := dialQMP(ctx, filepath.Join(v.dir, qmpSocket), exited)
	if err != nil {
		return err
	}
	defer q.close()
	if err := q.ignoreShared(ctx); err != nil {
		return err
	}
	if _, err := q.do(ctx, "migrate-incoming", map[string]any{"uri": "exec:cat " + shellQuote(t.state)}); err != nil {
		return err
	}
	// The snapshot was made stopped: the VM is restored paused.
	st, err := q.waitStatus(ctx, "paused", "running")
	if err == nil && st == "paused" {
		_, err = q.do(ctx, "cont", nil)
	}
	if err != nil {
		m, _ := q.do(context.Background(), "query-migrate", nil)
		return fmt.Errorf("microvm: restoring the snapshot: status %s (%s): %w", st, m, err)
	}
	return nil
}

// waitingLine is what the agent writes on the console when it waits for a
// host (cmd/aleph-guest).
const waitingLine = "aleph-guest: waiting for the host"

// waitConsole waits until the VM's console holds line n times.
func waitConsole(ctx context.Context, dir, line string, n int, exited <-chan struct{}) error {
	for {
		b, _ := os.ReadFile(filepath.Join(dir, consoleLog))
		if strings.Count(string(b), line) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("microvm: snapshot VM: waiting for %q: %w: %s", line, ctx.Err(), readConsole(dir))
		case <-exited:
			return fmt.Errorf("microvm: snapshot VM exited: %s", readConsole(dir))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func readConsole(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, consoleLog))
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return string(b)
}

// shellQuote quotes p for the shell QEMU runs exec: migrations in.
func shellQuote(p string) string {
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}
