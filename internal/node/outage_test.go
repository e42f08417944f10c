package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/internal/syncbuf"
	"github.com/goaleph/goaleph/message"
)

// logBuffer collects a node's log lines for assertions.
type logBuffer struct{ syncbuf.Buffer }

// count returns the number of lines whose message is msg.
func (b *logBuffer) count(msg string) int {
	return strings.Count(b.String(), "msg=\""+msg+"\"")
}

// eventually polls cond every 20 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPostgresOutage crashes PostgreSQL (SIGKILL, not the node) while 24
// clients post messages over HTTP: the node answers writes and reads with
// 503, reports the outage in its log and /metrics, keeps a pending message
// scheduled, recovers when the server is back, and every message it
// acknowledged is processed, once.
func TestPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and crashes a PostgreSQL server; not in -short")
	}
	const (
		clients   = 24
		total     = 4000
		killAfter = 300 // acknowledged messages before the crash
		afterBack = 200 // acknowledged messages after the restart
	)
	cluster := pgtest.StartCluster(t, pgtest.Durable())
	logs := &logBuffer{}
	// A short backoff, so that the pending amend is attempted during the
	// outage, and retries enough that it is not rejected for waiting.
	n, addr := serveNode(t, Config{
		DatabaseURL: cluster.NewDatabase(t),
		Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		MaxBackoff:  time.Second,
		MaxRetries:  1000,
	})
	base := "http://" + addr
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	// Connections dialed but never used would hold the node's shutdown.
	t.Cleanup(client.CloseIdleConnections)

	a := ethtest.Account(t)
	bodies, hashes := postBodies(t, a, "outage-test", total, func(i int) bool { return i%2 == 0 })
	// The amend waits for an original that arrives after the outage.
	orig := post(t, a, "blog", map[string]any{"body": "original"}, "")
	amend := post(t, a, "amend", map[string]any{"body": "amended"}, orig.ItemHash)
	postOne := func(m *message.Message, sync bool) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"sync": sync, "message": m})
		resp, err := client.Post(base+"/api/v0/messages", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	if code, body := postOne(amend, true); code != http.StatusAccepted {
		t.Fatalf("amend before its original: %d %s", code, body)
	}

	var (
		acked, unavailable atomic.Int64
		next               atomic.Int64
		stop               atomic.Bool
		ackedHashes        sync.Map
		mu                 sync.Mutex
		bad503             []string // 503s without the expected body
		others             = map[int]int{}
		transport          []error
		wg                 sync.WaitGroup
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := next.Add(1) - 1
			for !stop.Load() && i < total {
				resp, err := client.Post(base+"/api/v0/messages", "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					mu.Lock()
					transport = append(transport, err)
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK, http.StatusAccepted:
					ackedHashes.Store(hashes[i], true)
					acked.Add(1)
					i = next.Add(1) - 1
				case http.StatusServiceUnavailable:
					unavailable.Add(1)
					var e struct{ Error string }
					if json.Unmarshal(body, &e) != nil || !strings.HasPrefix(e.Error, "database unavailable") ||
						resp.Header.Get("Retry-After") == "" {
						mu.Lock()
						bad503 = append(bad503, string(body))
						mu.Unlock()
					}
					// A client retries the same message a little later.
					time.Sleep(10 * time.Millisecond)
				default:
					mu.Lock()
					others[resp.StatusCode]++
					mu.Unlock()
					i = next.Add(1) - 1
				}
			}
		}()
	}
	stopClients := func() {
		stop.Store(true)
		wg.Wait()
	}
	defer stopClients()
	ackedBy := func(min int64) func() bool {
		return func() bool {
			if next.Load() >= total {
				t.Fatalf("ran out of messages (%d acknowledged)", acked.Load())
			}
			return acked.Load() >= min
		}
	}
	metricIs := func(name string, cond func(float64) bool) func() bool {
		return func() bool {
			v, err := metric(addr, name)
			return err == nil && cond(v)
		}
	}

	start := time.Now()
	eventually(t, time.Minute, "acknowledgements before the crash", ackedBy(killAfter))
	if err := cluster.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	ackedAtKill := acked.Load()
	eventually(t, 30*time.Second, "503 answers", func() bool { return unavailable.Load() > 0 })
	eventually(t, 30*time.Second, "aleph_database_up 0", metricIs("aleph_database_up", func(v float64) bool { return v == 0 }))
	eventually(t, 10*time.Second, "database errors counted", metricIs("aleph_database_errors_total", func(v float64) bool { return v > 0 }))
	eventually(t, 10*time.Second, "the outage logged", func() bool { return logs.count("database unavailable") > 0 })
	// Reads the database cannot serve are 503 too, and /metrics answers.
	resp, err := client.Get(base + "/api/v0/messages.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /api/v0/messages.json during the outage: %d", resp.StatusCode)
	}
	// Stay down long enough for the amend's timer (≤ 1 s) to fire.
	time.Sleep(2 * time.Second)
	detected := time.Since(killed)
	// Messages acknowledged after the crash would have been written to a
	// dead server: allow only those answered in flight.
	if late := acked.Load() - ackedAtKill; late > clients {
		t.Errorf("%d messages acknowledged after the crash", late)
	}

	ackedAtRestart := acked.Load()
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	eventually(t, 30*time.Second, "aleph_database_up 1", metricIs("aleph_database_up", func(v float64) bool { return v == 1 }))
	recovered := time.Since(restarted)
	if logs.count("database available again") == 0 {
		t.Error("the recovery was not logged")
	}
	eventually(t, time.Minute, "acknowledgements after the restart", ackedBy(ackedAtRestart+afterBack))
	if code, body := postOne(orig, true); code != http.StatusOK {
		t.Fatalf("original after the outage: %d %s", code, body)
	}
	stopClients()
	waitStatus(t, n, amend.ItemHash, store.StatusProcessed)
	if got := readPost(t, n, orig.ItemHash).LatestAmend; got != amend.ItemHash {
		t.Errorf("latest amend %q, want %s", got, amend.ItemHash)
	}

	mu.Lock()
	if len(others) > 0 || len(transport) > 0 || len(bad503) > 0 {
		t.Errorf("unexpected answers: status %v, transport errors %v, 503 bodies %q", others, transport, bad503)
	}
	mu.Unlock()
	ctx := context.Background()
	missing := 0
	var nAcked int64
	ackedHashes.Range(func(k, _ any) bool {
		nAcked++
		st, err := n.store.Status(ctx, k.(string))
		if err != nil || st.Status != store.StatusProcessed {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged messages are not processed", missing, nAcked)
	}
	counts, err := n.store.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	page, err := n.store.ListMessages(ctx, store.MessageFilter{Types: []message.Type{message.TypePost}, Pagination: 0})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(page.Records)) != counts.Messages || counts.Messages < nAcked+2 || counts.Pending != 0 {
		t.Fatalf("messages counter %d, rows %d, acknowledged %d (+2), pending %d",
			counts.Messages, len(page.Records), nAcked, counts.Pending)
	}
	if c := logs.count("database unavailable"); c > 3 {
		t.Errorf("the outage was logged %d times", c)
	}
	t.Logf("acknowledged %d (%d before the crash, %d during, %d after the restart), %d answered 503; "+
		"outage held %v, up again %v after the restart, %d outage log lines; total %v",
		nAcked, ackedAtKill, ackedAtRestart-ackedAtKill, nAcked-ackedAtRestart, unavailable.Load(),
		detected.Round(time.Millisecond), recovered.Round(time.Millisecond), logs.count("database unavailable"),
		time.Since(start).Round(time.Millisecond))
}

// serveNode runs a node on a random loopback port until the test ends and
// returns its address.
func serveNode(t *testing.T, cfg Config) (*Node, string) {
	t.Helper()
	n, addr, stop := listenNode(t, cfg)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return n, addr
}
