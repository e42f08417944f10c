package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/syncbuf"
	"github.com/goaleph/goaleph/message"
)

// dialWS opens /api/ws0/messages?query on a test server.
func dialWS(t *testing.T, ts *httptest.Server, query string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/ws0/messages?" + query
	c, res, err := websocket.Dial(ctx, url, nil)
	if c != nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, res, err
}

// readHash reads one frame and returns the item_hash it carries.
func readHash(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("frame type %v, want text", typ)
	}
	wantKeys(t, "websocket frame", b, listedKeys...)
	return str(t, field(t, b, "item_hash"))
}

// waitSubscribers waits until the server feeds want sockets live, and
// the node has a subscriber (the hub's) if and only if want > 0.
func waitSubscribers(t *testing.T, e *env, want int) {
	t.Helper()
	node := min(want, 1)
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.ws.joined() != want || e.node.subscribers() != node {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets fed and %d node subscribers, want %d and %d",
				e.srv.ws.joined(), e.node.subscribers(), want, node)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWebSocketHistoryAndLive(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	var posts []*store.Record
	for i := range 12 {
		r := newRec(rec{sender: "0xA", time: float64(100 + i), channel: "ch", ptype: "t", salt: fmt.Sprint(i)})
		posts = append(posts, r)
	}
	agg := newRec(rec{typ: message.TypeAggregate, sender: "0xA", time: 200, key: "k"})
	e.insert(append(posts, agg)...)

	// Default history: the 10 latest matching messages, oldest first.
	c, _, err := dialWS(t, ts, "msgType=POST")
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i < 12; i++ {
		if got := readHash(t, c); got != posts[i].ItemHash {
			t.Fatalf("history frame %d: %s, want %s", i, got, posts[i].ItemHash)
		}
	}
	waitSubscribers(t, e, 1)
	// Live: a non-matching message is skipped, a matching one is sent; a
	// message already sent in the history is not sent twice.
	e.node.publish(newRec(rec{typ: message.TypeAggregate, sender: "0xA", time: 300, key: "k2"}))
	e.node.publish(posts[11])
	live := newRec(rec{sender: "0xB", time: 301, ptype: "t", salt: "live"})
	e.node.publish(live)
	if got := readHash(t, c); got != live.ItemHash {
		t.Fatalf("live frame %s, want %s", got, live.ItemHash)
	}
	c.Close(websocket.StatusNormalClosure, "")
	// The server lets go of the subscription when the client leaves.
	waitSubscribers(t, e, 0)
}

func TestWebSocketFilters(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	a := newRec(rec{sender: "0xA", time: 1, channel: "x", ptype: "t", tags: []string{"go"}, salt: "a"})
	b := newRec(rec{sender: "0xB", time: 2, channel: "y", ptype: "t", salt: "b"})
	e.insert(a, b)
	c, _, err := dialWS(t, ts, "addresses=0xB&history=5")
	if err != nil {
		t.Fatal(err)
	}
	if got := readHash(t, c); got != b.ItemHash {
		t.Errorf("history: %s, want %s", got, b.ItemHash)
	}
	c2, _, err := dialWS(t, ts, "history=0&tags=go,rust&channels=x")
	if err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, e, 2)
	e.node.publish(b)
	e.node.publish(a)
	if got := readHash(t, c2); got != a.ItemHash {
		t.Errorf("tags/channels live: %s, want %s", got, a.ItemHash)
	}
	c3 := newRec(rec{sender: "0xB", time: 3, ptype: "t", salt: "c"})
	e.node.publish(c3)
	if got := readHash(t, c); got != c3.ItemHash {
		t.Errorf("addresses live: %s, want %s", got, c3.ItemHash)
	}
}

func TestWebSocketInvalid(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	for _, q := range []string{"history=200", "history=-1", "msgType=NOPE", "chains=XYZ"} {
		_, res, err := dialWS(t, ts, q)
		if err == nil || res == nil || res.StatusCode != http.StatusUnprocessableEntity {
			code := 0
			if res != nil {
				code = res.StatusCode
			}
			t.Errorf("?%s: dial err %v status %d, want 422", q, err, code)
		}
	}
	if _, _, err := dialWS(t, ts, "history=199"); err != nil {
		t.Errorf("history=199: %v", err)
	}
}

func TestWebSocketConnectionCap(t *testing.T) {
	e := newEnv(t)
	e.srv.ws.max = 1
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	c1, _, err := dialWS(t, ts, "history=0")
	if err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, e, 1)
	c2, _, err := dialWS(t, ts, "history=0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, _, err = c2.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusTryAgainLater || ce.Reason != "Too many connections" {
		t.Errorf("second connection: %v, want close 1013 Too many connections", err)
	}
	// The slot is given back when the first client leaves.
	c1.Close(websocket.StatusNormalClosure, "")
	waitSubscribers(t, e, 0)
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.ws.conns.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c3, _, err := dialWS(t, ts, "history=0")
	if err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, e, 1)
	c3.Close(websocket.StatusNormalClosure, "")
}

// The history is read a page at a time and sent oldest first; it stops at
// maxWSHistoryBytes, keeping the newest messages.
func TestWebSocketHistoryPagesAndBytes(t *testing.T) {
	e := newEnv(t)
	var hashes []string // oldest first
	for i := range 45 {
		r := newRec(rec{sender: "0xA", time: float64(100 + i), ptype: "t", salt: fmt.Sprint(i)})
		e.insert(r)
		hashes = append(hashes, r.ItemHash)
	}
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	c, _, err := dialWS(t, ts, "history=43")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range hashes[2:] {
		if got := readHash(t, c); got != want {
			t.Fatalf("history frame %d: %s, want %s", i, got, want)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")

	// Big messages: only the newest that fit in maxWSHistoryBytes.
	big := strings.Repeat("x", 150_000)
	var bigHashes []string
	for i := range 12 {
		r := newRec(rec{sender: "0xB", time: float64(200 + i), ptype: "big", salt: fmt.Sprint(i), content: fmt.Sprintf(`{"body":"%s","n":%d}`, big, i)})
		e.insert(r)
		bigHashes = append(bigHashes, r.ItemHash)
	}
	c, _, err = dialWS(t, ts, "history=100&addresses=0xB")
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(4 << 20)
	var got []string
	size, frame := 0, 0
	for {
		wait := 500 * time.Millisecond
		if len(got) == 0 {
			wait = 10 * time.Second
		}
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		_, b, err := c.Read(ctx)
		cancel()
		if err != nil {
			break
		}
		size, frame = size+len(b), len(b)
		got = append(got, str(t, field(t, b, "item_hash")))
	}
	if len(got) == 0 || len(got) == len(bigHashes) {
		t.Fatalf("%d frames of %d: the byte bound did not apply", len(got), len(bigHashes))
	}
	if want := bigHashes[len(bigHashes)-len(got):]; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("frames %v, want the newest %v", got, want)
	}
	if size > maxWSHistoryBytes || size+frame <= maxWSHistoryBytes {
		t.Errorf("%d frames, %d bytes: not the most that fit in %d", len(got), size, maxWSHistoryBytes)
	}
}

// Sockets opened with the same query share one history read until a
// message is published; the next socket then reads again.
func TestWebSocketSharedHistory(t *testing.T) {
	e := newEnv(t)
	e.srv.ws.historyAge = time.Hour // no expiry by age during the test
	a := newRec(rec{sender: "0xA", time: 100, ptype: "t", salt: "a"})
	e.insert(a)
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	// open reads a socket's frames: the history, then the live ones that
	// publish sends, and closes it.
	open := func(want []string, publish ...*store.Record) {
		t.Helper()
		c, _, err := dialWS(t, ts, "history=5")
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if i == len(want)-len(publish) {
				waitSubscribers(t, e, 1)
				for _, p := range publish {
					e.node.publish(p)
				}
			}
			if got := readHash(t, c); got != w {
				t.Fatalf("frame %d: %s, want %s (all: %v)", i, got, w, want)
			}
		}
		c.Close(websocket.StatusNormalClosure, "")
		waitSubscribers(t, e, 0)
	}
	open([]string{a.ItemHash})
	e.srv.ws.mu.Lock()
	entries := len(e.srv.ws.history)
	e.srv.ws.mu.Unlock()
	if entries != 1 {
		t.Fatalf("%d shared histories after one socket, want 1", entries)
	}
	// Stored but not published (the cache cannot tell): the second socket
	// gets the shared history, then the live marker; b is not in it.
	b := newRec(rec{sender: "0xA", time: 101, ptype: "t", salt: "b"})
	e.insert(b)
	marker := newRec(rec{sender: "0xA", time: 102, ptype: "t", salt: "marker"})
	open([]string{a.ItemHash, marker.ItemHash}, marker)
	// The marker was published, so the next socket reads again and sees b.
	open([]string{a.ItemHash, b.ItemHash})
}

// When a crowd of sockets leaves, the hub plans one release of memory to
// the OS, and none for a small crowd.
func TestWSHubFreesAfterCrowd(t *testing.T) {
	h := newWSHub(0)
	planned := func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.freeing != nil
	}
	for range 10 {
		h.acquire()
	}
	for range 10 {
		h.release()
	}
	if planned() {
		t.Fatal("release planned after 10 sockets")
	}
	for range wsFreePeak {
		if !h.acquire() {
			t.Fatal("acquire refused under the cap")
		}
	}
	for range wsFreePeak/2 - 1 {
		h.release()
	}
	if planned() {
		t.Fatal("release planned above half the peak")
	}
	h.release()
	if !planned() {
		t.Fatal("no release planned at half the peak")
	}
	deadline := time.Now().Add(10 * time.Second)
	for planned() {
		if time.Now().After(deadline) {
			t.Fatal("planned release never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWebSocketLiveFormats: sockets asking different content formats of
// the same live message (encoded once per format) each get their own.
func TestWebSocketLiveFormats(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	full, _, err := dialWS(t, ts, "history=0")
	if err != nil {
		t.Fatal(err)
	}
	none, _, err := dialWS(t, ts, "history=0&contentFormat=none")
	if err != nil {
		t.Fatal(err)
	}
	full2, _, err := dialWS(t, ts, "history=0")
	if err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, e, 3)
	a := newRec(rec{sender: "0xA", time: 1, ptype: "t", salt: "a"})
	e.node.publish(a)
	frame := func(c *websocket.Conn) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	f, n, f2 := frame(full), frame(none), frame(full2)
	if str(t, field(t, f, "item_hash")) != a.ItemHash || str(t, field(t, n, "item_hash")) != a.ItemHash {
		t.Fatalf("frames %s / %s, want %s", f, n, a.ItemHash)
	}
	if !bytes.Equal(f, f2) {
		t.Errorf("two full sockets got different frames:\n%s\n%s", f, f2)
	}
	if bytes.Contains(n, []byte(`"content"`)) || !bytes.Contains(f, []byte(`"content"`)) {
		t.Errorf("contentFormat=none frame %s, full frame %s", n, f)
	}
}

// TestWebSocketClientGoneDuringHistory: a history read that fails because
// the request's context ended (the client left) is logged at debug, not
// as an error; a failure of the store is still an error.
func TestWebSocketClientGoneDuringHistory(t *testing.T) {
	e := newEnv(t)
	var logs syncbuf.Buffer
	e.srv.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.insert(newRec(rec{sender: "0xA", time: 1, ptype: "t", salt: "a"}))
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		cancel()
		e.srv.ServeHTTP(w, r.WithContext(ctx))
	}))
	defer gone.Close()
	c, _, err := dialWS(t, gone, "history=5&nocache=1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusInternalError {
		t.Fatalf("read: %v, want the close (1011) that ends a failed history", err)
	}
	if out := logs.String(); !strings.Contains(out, "level=DEBUG msg=\"websocket history\"") || strings.Contains(out, "level=ERROR") {
		t.Fatalf("log:\n%s\nwant the failed history at debug, no error", out)
	}

	// The store failing is the node's error.
	var logs2 syncbuf.Buffer
	e.srv.log = slog.New(slog.NewTextHandler(&logs2, nil))
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	e.db.Close()
	c, _, err = dialWS(t, ts, "history=5&nocache=2")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusInternalError {
		t.Fatalf("read: %v, want 1011", err)
	}
	if out := logs2.String(); !strings.Contains(out, "level=ERROR msg=\"websocket history\"") {
		t.Fatalf("log:\n%s\nwant the store's failure as an error", out)
	}
}
