package crn

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/client"
)

// startAnnouncing starts a compute node (wasm backend) that announces its
// executions with the key in keyFile.
func startAnnouncing(t *testing.T, k *core, keyFile string, idle time.Duration) *node {
	t.Helper()
	return startCRN(t, k, crnOpts{idle: idle, noWatch: true, adjust: func(c *Config) { c.KeyFile = keyFile }})
}

// announced returns the "executions" aggregate of address on the core node.
func announced(t *testing.T, k *core, address string) (map[string]Announcement, error) {
	raw, err := k.c.Aggregate(t.Context(), address, AnnouncementKey)
	if err != nil {
		return nil, err
	}
	var out map[string]Announcement
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return out, nil
}

// waitStatus waits until the announcement of prog has status.
func waitStatus(t *testing.T, k *core, address, prog, status string) Announcement {
	t.Helper()
	var got Announcement
	eventually(t, 15*time.Second, func() error {
		m, err := announced(t, k, address)
		if err != nil {
			return err
		}
		got = m[prog]
		if got.Status != status {
			return fmt.Errorf("announcement of %s: %+v, want %s", prog, got, status)
		}
		return nil
	})
	return got
}

// TestAnnounce: the first request to a program makes the node announce it
// as running, with its URL and backend, in the AGGREGATE "executions" of
// the node's address on a real core node; shutting the node down
// announces it stopped before Run returns. The key file is created with
// mode 0600 and reused.
func TestAnnounce(t *testing.T) {
	k := startCore(t)
	code := k.store(t, cgiModule("hello", false), "")
	prog := k.program(t, code, programOpts{})
	keyFile := filepath.Join(t.TempDir(), "keys", "crn-key")
	n := startAnnouncing(t, k, keyFile, 0)
	addr := n.s.Address()
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 || addr == "" {
		t.Fatalf("key file %v %v, address %q", st, err, addr)
	}
	if _, err := announced(t, k, addr); err == nil {
		t.Fatal("announcements before any request")
	}
	if resp, body := n.get(t, "/vm/"+prog+"/"); resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	before := time.Now().Unix()
	got := waitStatus(t, k, addr, prog, StatusRunning)
	if got.URL != n.url+"/vm/"+prog || got.Backend != "wasm" || got.Since == 0 || got.Since > before+1 {
		t.Errorf("running: %+v", got)
	}
	// The URL works.
	if resp, body := n.get(t, strings.TrimPrefix(got.URL, n.url)); resp.StatusCode != 200 || body != "hello" {
		t.Errorf("%s: %d %q", got.URL, resp.StatusCode, body)
	}

	n.stop() // the final flush happens before Run returns
	m, err := announced(t, k, addr)
	if err != nil {
		t.Fatal(err)
	}
	if got := m[prog]; got.Status != StatusStopped || got.URL != "" || got.Since < before {
		t.Errorf("after shutdown: %+v", got)
	}

	// The same key file gives the same address.
	n2 := startAnnouncing(t, k, keyFile, 0)
	if n2.s.Address() != addr {
		t.Errorf("address %s, then %s", addr, n2.s.Address())
	}
}

// TestAnnounceIdleStop: with idle timeout -1 the execution stops after
// each request, and the node ends up announcing the program stopped.
// Another program's entry, left "running" by an earlier run of the node
// (a crash), is withdrawn at start.
func TestAnnounceIdleStop(t *testing.T) {
	k := startCore(t)
	code := k.store(t, cgiModule("hello", false), "")
	prog := k.program(t, code, programOpts{})
	stale := strings.Repeat("ab", 32)
	keyFile := filepath.Join(t.TempDir(), "crn-key")
	key, err := eth.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(key.PrivateKeyHex()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := k.c.UpdateAggregate(t.Context(), key, AnnouncementKey, map[string]Announcement{
		stale: {Status: StatusRunning, URL: "http://gone/vm/" + stale, Backend: "wasm", Since: 1}}, client.WriteOptions{Sync: true})
	if err != nil || res.Status != client.StatusProcessed {
		t.Fatalf("%v %v", res, err)
	}

	n := startAnnouncing(t, k, keyFile, -1)
	if n.s.Address() != key.Address() {
		t.Fatalf("address %s, want %s", n.s.Address(), key.Address())
	}
	waitStatus(t, k, key.Address(), stale, StatusStopped)
	for range 3 {
		if resp, body := n.get(t, "/vm/"+prog+"/"); resp.StatusCode != 200 || body != "hello" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	}
	waitStatus(t, k, key.Address(), prog, StatusStopped)
	if n.s.pool.list() != nil {
		t.Errorf("executions left: %v", n.s.pool.list())
	}
}

// TestKeyFileInvalid: a key file that is not a hex key is an error.
func TestKeyFileInvalid(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "crn-key")
	os.WriteFile(keyFile, []byte("not a key"), 0o600)
	_, err := New(Config{CoreURL: "http://127.0.0.1:1", CacheDir: t.TempDir(), KeyFile: keyFile})
	if err == nil || !strings.Contains(err.Error(), "key file") {
		t.Fatalf("got %v", err)
	}
}

// TestAnnounceHeartbeat: while a program runs, the node refreshes the
// "seen" of its entry every heartbeat, keeping "since"; an entry whose
// heartbeats stopped is stale.
func TestAnnounceHeartbeat(t *testing.T) {
	defer func(d time.Duration) { announceHeartbeat = d }(announceHeartbeat)
	announceHeartbeat = 1500 * time.Millisecond
	k := startCore(t)
	prog := k.program(t, k.store(t, cgiModule("beat", false), ""), programOpts{})
	n := startAnnouncing(t, k, filepath.Join(t.TempDir(), "crn-key"), 0)
	addr := n.s.Address()
	if resp, body := n.get(t, "/vm/"+prog+"/"); resp.StatusCode != 200 || body != "beat" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	first := waitStatus(t, k, addr, prog, StatusRunning)
	if first.Seen != first.Since || first.Stale(time.Now()) {
		t.Fatalf("first announcement %+v", first)
	}
	eventually(t, 15*time.Second, func() error {
		m, err := announced(t, k, addr)
		if err != nil {
			return err
		}
		if e := m[prog]; e.Status != StatusRunning || e.Seen <= first.Seen || e.Since != first.Since || e.URL != first.URL {
			return fmt.Errorf("after a heartbeat: %+v (first %+v)", e, first)
		}
		return nil
	})
	n.stop()
	if e := waitStatus(t, k, addr, prog, StatusStopped); e.Seen != 0 || e.Stale(time.Now().Add(time.Hour)) {
		t.Errorf("stopped: %+v", e)
	}
	now := time.Now()
	old := Announcement{Status: StatusRunning, Since: now.Add(-2 * time.Hour).Unix(), Seen: now.Add(-StaleAfter - time.Minute).Unix()}
	if !old.Stale(now) {
		t.Errorf("%+v is not stale at %v", old, now)
	}
	if old.Seen = now.Add(-StaleAfter + time.Minute).Unix(); old.Stale(now) {
		t.Errorf("%+v is stale at %v", old, now)
	}
}
