package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/p2p"
)

func roleConfig(dir string) RoleConfig {
	return RoleConfig{
		Node: Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)},
		P2P:  p2p.Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, SyncPeriod: -1},
	}
}

func runRole(r *Role) (context.CancelFunc, <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return cancel, done
}

func waitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func TestRoleReadyAndStop(t *testing.T) {
	r, err := NewRole(t.Context(), roleConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	cancel, done := runRole(r)
	defer cancel()
	select {
	case <-r.Ready():
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("not ready")
	}
	select {
	case <-r.P2P().Ready():
	default:
		t.Error("role ready before its p2p service")
	}
	resp, err := http.Get(r.URL() + "/api/v0/info/public.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("API: %s", resp.Status)
	}
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Errorf("clean stop: %v", err)
	}
}

func TestRoleNoP2P(t *testing.T) {
	rc := roleConfig(t.TempDir())
	rc.NoP2P = true
	r, err := NewRole(t.Context(), rc)
	if err != nil {
		t.Fatal(err)
	}
	if r.P2P() != nil {
		t.Error("p2p service with NoP2P")
	}
	cancel, done := runRole(r)
	select {
	case <-r.Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("not ready")
	}
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Errorf("clean stop: %v", err)
	}
}

// A p2p service that cannot start (here: it has no node to feed, the one
// start-up failure a test can cause without breaking libp2p) stops the
// node: Run returns the p2p error and the stores and listener are released.
func TestRoleP2PFailureStopsNode(t *testing.T) {
	r, dir := newRoleIn(t)
	addr := r.Addr().String()
	r.P2P().SetNode(nil)
	cancel, done := runRole(r)
	defer cancel()
	err := waitRun(t, done)
	if err == nil || !strings.HasPrefix(err.Error(), "p2p: ") {
		t.Fatalf("Run = %v, want a p2p error", err)
	}
	select {
	case <-r.Node().stopped:
	default:
		t.Error("the node's writer still runs")
	}
	released(t, addr, dir)
}

// Close without Run releases the listener, the database and the file
// store: a new role opens the same SQLite file and file store at once.
func TestRoleCloseWithoutRun(t *testing.T) {
	r, dir := newRoleIn(t)
	addr := r.Addr().String()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	released(t, addr, dir)
}

// A role whose context has ended before Run releases everything too.
func TestRoleRunCancelled(t *testing.T) {
	r, dir := newRoleIn(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	reopen(t, dir)
}

// newRoleIn builds a role on a new directory, returned with it.
func newRoleIn(t *testing.T) (*Role, string) {
	t.Helper()
	dir := t.TempDir()
	r, err := NewRole(t.Context(), roleConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

// released checks that a stopped role gave back its API listener on addr
// and its stores in dir.
func released(t *testing.T, addr, dir string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("API listener not released: %v", err)
	}
	ln.Close()
	reopen(t, dir)
}

// reopen opens a role on dir (the same SQLite file and file store),
// writes to its database and closes it.
func reopen(t *testing.T, dir string) {
	t.Helper()
	rc := roleConfig(dir)
	rc.NoP2P = true
	r, err := NewRole(t.Context(), rc)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer r.Close()
	if err := r.Node().PinUpload(t.Context(), files.Info{Hash: strings.Repeat("ab", 32), Size: 1}); err != nil {
		t.Fatalf("write after reopen: %v", err)
	}
}
