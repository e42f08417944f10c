package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/sqlite"
	"github.com/goaleph/goaleph/message"
)

// buildAleph builds the aleph binary once per test run.
func buildAleph(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "aleph")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/goaleph/goaleph/cmd/aleph")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build aleph: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startAleph starts `aleph node run` and waits until its API answers.
func startAleph(t *testing.T, bin, dir, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "node", "run", "--data-dir", dir, "--listen", addr, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/api/v0/version"); err == nil {
			resp.Body.Close()
			return cmd
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	t.Fatal("node did not start")
	return nil
}

// metric reads one gauge or counter value from /metrics.
func metric(addr, name string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") {
			return strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name)), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// TestCrashDuringBurst kills the node with SIGKILL during a burst of
// 10,000 POSTs: after a restart every acknowledged message is processed,
// exactly once.
func TestCrashDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a node process; not in -short")
	}
	const total = 10000
	bin := buildAleph(t)
	dir, addr := t.TempDir(), freeAddr(t)
	a := ethtest.Account(t)
	bodies, hashes := postBodies(t, a, "crash-test", total, func(int) bool { return false })

	cmd := startAleph(t, bin, dir, addr)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var (
		acked   sync.Map
		nAcked  atomic.Int64
		next    atomic.Int64
		killed  atomic.Bool
		wg      sync.WaitGroup
		killAt  = int64(total * 4 / 10)
		killErr error
		once    sync.Once
	)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				resp, err := client.Post("http://"+addr+"/api/v0/messages", "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					if killed.Load() {
						return
					}
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusAccepted {
					acked.Store(hashes[i], true)
					if nAcked.Add(1) == killAt {
						once.Do(func() {
							killed.Store(true)
							killErr = cmd.Process.Signal(syscall.SIGKILL)
						})
					}
				} else if !killed.Load() {
					t.Errorf("POST %d: status %d", i, resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	if killErr != nil {
		t.Fatal(killErr)
	}
	cmd.Wait()
	if !killed.Load() {
		t.Fatal("the node was never killed")
	}
	n := nAcked.Load()
	t.Logf("acknowledged %d of %d messages before SIGKILL", n, total)

	// Restart on the same data and wait until nothing is pending.
	cmd = startAleph(t, bin, dir, addr)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p, err := metric(addr, "aleph_pending_messages")
		if err == nil && p == 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("pending messages left after restart: %v (%v)", p, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}

	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "aleph.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	missing := 0
	acked.Range(func(k, _ any) bool {
		st, err := db.Status(ctx, k.(string))
		if err != nil || st.Status != store.StatusProcessed {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d acknowledged messages are not processed after restart", missing)
	}
	counts, err := db.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each message is stored once (the counter is kept by the writer), and
	// has exactly one posts row.
	var posts int64
	err = db.Update(ctx, func(tx store.Tx) error {
		for _, h := range hashes {
			if _, err := tx.Post(h); err == nil {
				posts++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if counts.Messages < n || counts.Messages > total || posts != counts.Messages || counts.Pending != 0 {
		t.Fatalf("messages %d, posts %d, pending %d, acknowledged %d", counts.Messages, posts, counts.Pending, n)
	}
	page, err := db.ListMessages(ctx, store.MessageFilter{Types: []message.Type{message.TypePost}, Pagination: 0})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(page.Records)) != counts.Messages {
		t.Fatalf("listed %d messages, counter says %d", len(page.Records), counts.Messages)
	}
}

// postBodies signs n POSTs of type typ, {"i": i}, and returns the bodies
// of their POST /api/v0/messages requests (sync as sync(i) says) and their
// item hashes.
func postBodies(t *testing.T, a message.Signer, typ string, n int, sync func(i int) bool) (bodies [][]byte, hashes []string) {
	t.Helper()
	bodies, hashes = make([][]byte, n), make([]string, n)
	for i := range bodies {
		m := post(t, a, typ, map[string]any{"i": i}, "")
		hashes[i] = m.ItemHash
		bodies[i], _ = json.Marshal(map[string]any{"sync": sync(i), "message": m})
	}
	return bodies, hashes
}
