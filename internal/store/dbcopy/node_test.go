package dbcopy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/store/dbcopy"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/internal/store/storeurl"
	"github.com/goaleph/goaleph/message"
)

// bulkMessages is the history written through the store by bench/fill;
// a few hundred real messages come on top.
const bulkMessages = 100_000

// TestNodeOnCopies moves a node of 100,000 messages from SQLite to
// PostgreSQL and back with "aleph node db copy", and checks that a node
// started on each copy (with the same file store) answers the API like the
// original.
//
// The bulk of the history is written by bench/fill and the copies are made
// by the aleph command, both built without the race detector: under -race
// the SQLite library (C translated to Go) runs about 15 times slower, and
// the 200,000-row fill and copies would take minutes. The race detector
// covers the copy's code in the other tests of this package; the nodes
// started here run in the test, under it.
func TestNodeOnCopies(t *testing.T) {
	start := time.Now()
	pgURL := pgtest.Start(t)
	aleph, fill := buildTools(t)
	dataDir := t.TempDir()
	srcURL := storeurl.SQLiteURL(filepath.Join(dataDir, "aleph.db"))

	// The history, straight through the store; then real messages of
	// every kind over HTTP.
	bulk := runFill(t, fill, dataDir)
	t.Logf("bench/fill: %d messages in %s", bulkMessages, time.Since(start).Round(time.Millisecond))
	n := startNode(t, node.Config{DataDir: dataDir, MaxRetries: 1000, MaxBackoff: time.Hour})
	live := submitReal(t, n.url)
	bulk.sample(t, n.url)
	total := bulkMessages + len(live.processed)
	t.Logf("source: %d messages (%d real) +%d rejected, %d forgotten, %d pending, after %s",
		total, len(live.processed), len(live.rejected), len(live.forgotten), len(live.pending), time.Since(start).Round(time.Millisecond))

	urls := requests(live, bulk)
	checkStatuses(t, n.url, live)
	orig := collect(t, n.url, urls)
	n.stop(t)
	if first := orig["/api/v0/messages.json?pagination=50&page=1"].body; !bytes.Contains(first, fmt.Appendf(nil, `"pagination_total":%d`, total)) {
		t.Fatalf("original node does not hold %d messages: …%s", total, first[max(len(first)-200, 0):])
	}

	// SQLite → PostgreSQL.
	res := copyDB(t, aleph, srcURL, pgURL, total)
	n = startNode(t, node.Config{DataDir: dataDir, DatabaseURL: pgURL, MaxRetries: 1000, MaxBackoff: time.Hour})
	checkStatuses(t, n.url, live)
	onPG := collect(t, n.url, urls)
	n.stop(t)
	compareAnswers(t, "postgres copy", orig, onPG)
	t.Logf("SQLite → PostgreSQL: %d rows in %.2fs (%.0f rows/s); %d answers compared",
		res.Rows, res.Seconds, float64(res.Rows)/res.Seconds, len(urls))

	// PostgreSQL → a new SQLite file.
	backURL := storeurl.SQLiteURL(filepath.Join(t.TempDir(), "aleph.db"))
	res2 := copyDB(t, aleph, pgURL, backURL, total)
	n = startNode(t, node.Config{DataDir: dataDir, DatabaseURL: backURL, MaxRetries: 1000, MaxBackoff: time.Hour})
	checkStatuses(t, n.url, live)
	back := collect(t, n.url, urls)
	n.stop(t)
	compareAnswers(t, "sqlite copy of the postgres copy", onPG, back)
	compareAnswers(t, "sqlite copy vs original", orig, back)
	t.Logf("PostgreSQL → SQLite: %d rows in %.2fs (%.0f rows/s)", res2.Rows, res2.Seconds, float64(res2.Rows)/res2.Seconds)
	for i, c := range res.Tables {
		if res2.Tables[i] != c {
			t.Errorf("table %s: %d rows, then %d", c.Table, c.Rows, res2.Tables[i].Rows)
		}
	}
	t.Logf("tables: %v; test ran %s", res.Tables, time.Since(start).Round(time.Millisecond))
}

// buildTools builds the aleph command and bench/fill.
func buildTools(t *testing.T) (aleph, fill string) {
	t.Helper()
	dir := t.TempDir()
	aleph, fill = filepath.Join(dir, "aleph"), filepath.Join(dir, "fill")
	var g errgroup.Group
	for out, pkg := range map[string]string{aleph: "github.com/goaleph/goaleph/cmd/aleph", fill: "github.com/goaleph/goaleph/bench/fill"} {
		g.Go(func() error {
			if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
				return fmt.Errorf("build %s: %v\n%s", pkg, err, b)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return aleph, fill
}

// copyResult is the --json output of aleph node db copy.
type copyResult struct {
	Tables  []dbcopy.TableCount `json:"tables"`
	Rows    int64               `json:"rows"`
	Seconds float64             `json:"seconds"`
}

func copyDB(t *testing.T, aleph, from, to string, messages int) *copyResult {
	t.Helper()
	cmd := exec.Command(aleph, "--json", "node", "db", "copy", "--from", from, "--to", to)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("aleph node db copy %s → %s: %v\n%s", storeurl.Redact(from), storeurl.Redact(to), err, stderr.String())
	}
	var res copyResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("copy output: %v\n%s", err, stdout.String())
	}
	if len(res.Tables) != len(dbcopy.Tables()) || res.Tables[0].Table != "messages" || res.Tables[0].Rows != int64(messages) {
		t.Fatalf("copied %+v, want %d messages", res.Tables, messages)
	}
	return &res
}

type runningNode struct {
	url  string
	stop func(t *testing.T)
}

func startNode(t *testing.T, cfg node.Config) runningNode {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	var once sync.Once
	stop := func(t *testing.T) {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("node: %v", err)
			}
		})
	}
	t.Cleanup(func() { stop(t) })
	return runningNode{url: "http://" + ln.Addr().String(), stop: stop}
}

// live are the real messages sent to the node.
type live struct {
	processed []string // item hashes, processed
	rejected  []string
	forgotten []string
	pending   []string
	posters   []string // addresses with posts and amends
	aggs      []string // addresses with aggregates
	storers   []string // addresses with STORE messages
	files     []string // stored file hashes
	stores    []string // STORE message hashes
	big       string   // a POST whose content went through add_json
}

// submitReal sends a few hundred signed messages of every kind.
func submitReal(t *testing.T, api string) *live {
	t.Helper()
	ctx := context.Background()
	c := client.New(api)
	var mu sync.Mutex
	l := &live{}
	add := func(list *[]string, hs ...string) {
		mu.Lock()
		*list = append(*list, hs...)
		mu.Unlock()
	}
	ok := func(r *client.Result, err error) string {
		if err != nil || r.Status != client.StatusProcessed {
			panic(fmt.Sprintf("write: %v %+v", err, r))
		}
		add(&l.processed, r.Message.ItemHash)
		return r.Message.ItemHash
	}
	accounts := make([]*eth.Account, 8)
	byAddr := map[string]*eth.Account{}
	for i := range accounts {
		a, err := eth.NewAccount()
		if err != nil {
			t.Fatal(err)
		}
		accounts[i] = a
		byAddr[a.Address()] = a
	}
	var g errgroup.Group
	for i, a := range accounts {
		g.Go(func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("%v", r)
				}
			}()
			ch := []string{"TEST-A", "TEST-B"}[i%2]
			// Posts, some amended twice, one by a later amend first.
			var posts []string
			for j := range 15 {
				h := ok(c.Post(ctx, a, client.PostParams{Type: []string{"blog", "chat", "note"}[j%3], Channel: ch, Sync: true,
					Content: map[string]any{"title": fmt.Sprintf("post %d of %d", j, i), "body": "héllo wörld ✓ <b>&amp;",
						"tags": []string{"t" + fmt.Sprint(j%4), "x"}, "n": j, "f": 1.5e-7, "nested": map[string]any{"z": nil, "a": []any{1, "2", true}}}}))
				posts = append(posts, h)
			}
			add(&l.posters, a.Address())
			for j := range 5 {
				for k := range 2 {
					ok(c.Amend(ctx, a, posts[j], map[string]any{"body": fmt.Sprintf("amend %d", k), "tags": []string{"amended"}}, client.WriteOptions{Channel: ch, Sync: true}))
				}
			}
			// Aggregates: three keys, merged over several messages.
			if i < 5 {
				add(&l.aggs, a.Address())
				for round := range 3 {
					for _, key := range []string{"profile", "settings", "links"} {
						ok(c.UpdateAggregate(ctx, a, key, map[string]any{fmt.Sprintf("k%d", round): round, "last": key, "obj": map[string]any{"b": 2, "a": 1}},
							client.WriteOptions{Channel: ch, Sync: true}))
					}
				}
			}
			// STORE of uploaded files.
			if i < 4 {
				add(&l.storers, a.Address())
				for j := range 3 {
					data := make([]byte, 1000+j*40000+i)
					rand.Read(data)
					r, err := c.Store(ctx, a, bytes.NewReader(data), client.StoreParams{Sync: true, Channel: ch, Ref: fmt.Sprintf("file-%d", j)})
					add(&l.stores, ok(r, err))
					add(&l.files, r.FileHash)
				}
			}
			// FORGET of posts, a STORE and an aggregate message.
			if i < 3 {
				add(&l.forgotten, posts[10], posts[0]) // posts[0] is amended
				ok(c.Forget(ctx, a, client.ForgetParams{Hashes: []string{posts[10], posts[0]}, Reason: "test", Channel: ch, Sync: true}))
			}
			// Rejected: a bad signature.
			m, err := message.NewInline(a, message.TypePost, ch, fmt.Sprintf(`{"type":"x","address":"%s","content":{},"time":%d}`, a.Address(), time.Now().Unix()), time.Now())
			if err != nil {
				return err
			}
			sig := []byte(m.Signature)
			sig[10] ^= 1 // still hex
			m.Signature = string(sig)
			if st, _ := c.Submit(ctx, m, true); st != client.StatusRejected {
				return fmt.Errorf("bad signature: status %q", st)
			}
			add(&l.rejected, m.ItemHash)
			// Pending: amends of posts the node has not seen.
			var missing [32]byte
			rand.Read(missing[:])
			r, err := c.Amend(ctx, a, hex.EncodeToString(missing[:]), map[string]any{"body": "early"}, client.WriteOptions{Channel: ch})
			if err != nil || r.Status != client.StatusPending {
				return fmt.Errorf("amend of a missing post: %v %+v", err, r)
			}
			add(&l.pending, r.Message.ItemHash)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	// A post over the inline limit: its content is a file, the message
	// row has a content column.
	long := strings.Repeat("long content ", 5000)
	l.big = ok(c.Post(ctx, accounts[0], client.PostParams{Type: "blog", Sync: true, Content: map[string]any{"body": long, "k": []int{3, 1, 2}}}))
	// Forgotten STORE and aggregate messages.
	stored := l.stores[len(l.stores)-1]
	var aggMsg string
	page, err := c.Messages(ctx, client.MessageFilter{Types: []message.Type{message.TypeAggregate}, Addresses: []string{l.aggs[0]}})
	if err != nil || len(page.Messages) == 0 {
		t.Fatalf("aggregate messages: %v", err)
	}
	aggMsg = page.Messages[0].ItemHash
	for _, h := range []string{stored, aggMsg} {
		owner := byAddr[ownerOf(t, c, h)]
		ok(c.Forget(ctx, owner, client.ForgetParams{Hashes: []string{h}, Sync: true}))
		l.forgotten = append(l.forgotten, h)
	}
	// Forgetting an original forgets its amends: ask for the statuses.
	gone := map[string]bool{}
	for _, h := range l.forgotten {
		gone[h] = true
	}
	kept := l.processed[:0]
	for _, h := range l.processed {
		st, err := c.MessageStatus(ctx, h)
		switch {
		case err != nil:
			t.Fatal(err)
		case st.Status == client.StatusProcessed:
			kept = append(kept, h)
		case !gone[h]:
			l.forgotten = append(l.forgotten, h)
		}
	}
	l.processed = kept
	return l
}

func ownerOf(t *testing.T, c *client.Client, hash string) string {
	m, err := c.Message(context.Background(), hash)
	if err != nil {
		t.Fatal(err)
	}
	return m.Message.Sender
}

// bulk is the history written by bench/fill.
type bulk struct {
	hashes   []string // a sample
	senders  []string
	channels []string
}

// runFill writes bulkMessages processed POSTs into dir's SQLite database
// with bench/fill: through the store, in large transactions, rows as the
// node's applier writes them (SDK-shaped inline content, real addresses,
// one time per message, spread over senders and channels).
func runFill(t *testing.T, fill, dir string) *bulk {
	t.Helper()
	out, err := exec.Command(fill, "-dir", dir, "-n", fmt.Sprint(bulkMessages), "-senders", "200", "-channels", "20", "-batch", "25000").CombinedOutput()
	if err != nil {
		t.Fatalf("bench/fill: %v\n%s", err, out)
	}
	b := &bulk{}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, f := range strings.Fields(lines[len(lines)-1]) {
		if v, ok := strings.CutPrefix(f, "sender="); ok {
			b.senders = append(b.senders, v)
		}
		if v, ok := strings.CutPrefix(f, "channel="); ok {
			b.channels = append(b.channels, v)
		}
	}
	if len(b.senders) == 0 || len(b.channels) == 0 {
		t.Fatalf("bench/fill printed no sender and channel:\n%s", out)
	}
	return b
}

// sample picks bulk messages, senders and channels from the node.
func (b *bulk) sample(t *testing.T, api string) {
	t.Helper()
	for _, page := range []int{3, 400, 1999} {
		resp, err := http.Get(fmt.Sprintf("%s/api/v0/messages.json?msgType=POST&pagination=50&page=%d&sort_order=1", api, page))
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Messages []struct {
				ItemHash string `json:"item_hash"`
				Sender   string `json:"sender"`
				Channel  string `json:"channel"`
			} `json:"messages"`
		}
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil || len(p.Messages) < 5 {
			t.Fatalf("sample page %d: %v", page, err)
		}
		for _, m := range p.Messages[:5] {
			b.hashes = append(b.hashes, m.ItemHash)
		}
		b.senders = append(b.senders, p.Messages[1].Sender)
		b.channels = append(b.channels, p.Messages[2].Channel)
	}
}

// requests lists the API requests whose answers must not change.
func requests(l *live, b *bulk) []string {
	var u []string
	add := func(format string, args ...any) { u = append(u, fmt.Sprintf(format, args...)) }
	for p := 1; p <= 3; p++ {
		add("/api/v0/messages.json?pagination=50&page=%d", p)
	}
	add("/api/v0/messages.json?pagination=200&page=250")
	add("/api/v0/messages.json?pagination=100&page=7&sort_order=1")
	add("/api/v0/messages.json?pagination=100&page=1&sort_order=1")
	for _, a := range append(l.posters[:3:3], b.senders[:3]...) {
		add("/api/v0/messages.json?addresses=%s&pagination=40", a)
	}
	for _, ch := range append([]string{"TEST-A", "TEST-B"}, b.channels[:2]...) {
		add("/api/v0/messages.json?channels=%s&pagination=40&page=2", ch)
	}
	for _, typ := range []string{"POST", "AGGREGATE", "STORE", "FORGET"} {
		add("/api/v0/messages.json?msgType=%s&pagination=60", typ)
	}
	add("/api/v0/messages.json?msgStatuses=forgotten")
	add("/api/v0/messages.json?tags=amended&pagination=30")
	hashes := append(append(append([]string{}, b.hashes...), l.processed[:40]...), l.forgotten...)
	add("/api/v0/messages.json?hashes=%s", strings.Join(hashes, ","))
	for p := 1; p <= 2; p++ {
		add("/api/v0/posts.json?pagination=20&page=%d", p)
		add("/api/v1/posts.json?pagination=20&page=%d", p)
	}
	add("/api/v0/posts.json?pagination=100&page=300")
	add("/api/v1/posts.json?pagination=100&page=500")
	for _, a := range l.posters[:3] {
		add("/api/v0/posts.json?addresses=%s", a)
		add("/api/v1/posts.json?addresses=%s", a)
	}
	add("/api/v1/posts.json?channels=TEST-A&types=blog")
	for _, a := range l.aggs {
		add("/api/v0/aggregates/%s.json", a)
		add("/api/v0/aggregates/%s.json?keys=profile,links", a)
	}
	add("/api/v0/aggregates.json")
	add("/api/v0/aggregates.json?keys=settings&pagination=3&page=2")
	for _, a := range l.storers {
		add("/api/v0/addresses/%s/files", a)
	}
	for _, h := range append(append(append(append(append([]string{l.big}, b.hashes[:4]...), l.processed...), l.rejected...), l.forgotten...), l.pending...) {
		add("/api/v0/messages/%s", h)
		add("/api/v0/messages/%s/status", h)
	}
	add("/api/v0/messages/%s/content", l.big)
	for _, h := range l.files {
		add("/api/v0/storage/raw/%s", h)
		add("/api/v0/storage/metadata/%s", h)
	}
	add("/api/v0/channels/list.json")
	add("/api/v0/addresses/stats.json?addresses=%s", url.QueryEscape(strings.Join(l.posters, ",")))
	return u
}

type answer struct {
	code int
	body []byte
}

// collect GETs every request, two at a time.
func collect(t *testing.T, api string, urls []string) map[string]answer {
	t.Helper()
	out := make(map[string]answer, len(urls))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(2)
	for _, u := range urls {
		g.Go(func() error {
			resp, err := http.Get(api + u)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			mu.Lock()
			out[u] = answer{resp.StatusCode, b}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return out
}

// compareAnswers checks every answer of b against a, byte for byte.
func compareAnswers(t *testing.T, name string, a, b map[string]answer) {
	t.Helper()
	for u, x := range a {
		y := b[u]
		if x.code != y.code {
			t.Errorf("%s: %s: HTTP %d, original %d: %.200s", name, u, y.code, x.code, y.body)
			continue
		}
		if bytes.Equal(x.body, y.body) {
			continue
		}
		i := 0
		for i < min(len(x.body), len(y.body)) && x.body[i] == y.body[i] {
			i++
		}
		t.Errorf("%s: %s differs at byte %d:\n%.300s\n%.300s", name, u, i, x.body[max(i-100, 0):], y.body[max(i-100, 0):])
	}
}

// checkStatuses makes sure that the sample covers every status.
func checkStatuses(t *testing.T, api string, l *live) {
	t.Helper()
	for status, hs := range map[string][]string{"processed": l.processed[:5], "rejected": l.rejected, "forgotten": l.forgotten, "pending": l.pending} {
		for _, h := range hs {
			resp, err := http.Get(api + "/api/v0/messages/" + h + "/status")
			if err != nil {
				t.Fatal(err)
			}
			var st struct{ Status string }
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.Status != status {
				t.Errorf("%s: status %q, want %q", h, st.Status, status)
			}
		}
	}
}
