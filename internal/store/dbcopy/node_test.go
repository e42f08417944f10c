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
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/backend"
	"github.com/goaleph/goaleph/internal/store/dbcopy"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/message"
)

// totalMessages is the size of the copied node: bulk POSTs written through
// the store plus the real messages submitted over HTTP.
const totalMessages = 100_000

// TestNodeOnCopies moves a node of 100,000 messages from SQLite to
// PostgreSQL and back, and checks that a node started on each copy (with
// the same file store) answers the API like the original.
func TestNodeOnCopies(t *testing.T) {
	start := time.Now()
	pgURL := pgtest.Start(t)
	dataDir := t.TempDir()
	srcURL := backend.SQLiteURL(filepath.Join(dataDir, "aleph.db"))

	// The original node: real messages of every kind over HTTP, then the
	// bulk of the history straight through the store.
	n := startNode(t, node.Config{DataDir: dataDir, MaxRetries: 1000, MaxBackoff: time.Hour})
	live := submitReal(t, n.url)
	processed := len(live.processed)
	n.stop(t)
	bulk := bulkFill(t, srcURL, totalMessages-processed)
	t.Logf("source: %d bulk + %d real processed messages (+%d rejected, %d forgotten, %d pending) in %s",
		totalMessages-processed, processed, len(live.rejected), len(live.forgotten), len(live.pending), time.Since(start).Round(time.Millisecond))

	urls := requests(live, bulk)
	n = startNode(t, node.Config{DataDir: dataDir, MaxRetries: 1000, MaxBackoff: time.Hour})
	checkStatuses(t, n.url, live)
	orig := collect(t, n.url, urls)
	n.stop(t)
	if first := orig["/api/v0/messages.json?pagination=50&page=1"].body; !bytes.Contains(first, fmt.Appendf(nil, `"pagination_total":%d`, totalMessages)) {
		t.Fatalf("original node does not hold %d messages: …%s", totalMessages, first[max(len(first)-200, 0):])
	}

	// SQLite → PostgreSQL.
	res := copyDB(t, srcURL, pgURL)
	n = startNode(t, node.Config{DataDir: dataDir, DatabaseURL: pgURL, MaxRetries: 1000, MaxBackoff: time.Hour})
	checkStatuses(t, n.url, live)
	onPG := collect(t, n.url, urls)
	n.stop(t)
	same := compareAnswers(t, "postgres copy", orig, onPG, false)
	t.Logf("SQLite → PostgreSQL: %d rows in %s (%.0f rows/s); %d of %d answers byte-identical, the others equal as JSON (jsonb)",
		res.Rows, res.Duration.Round(time.Millisecond), rate(res), same, len(urls))

	// PostgreSQL → a new SQLite file.
	backURL := backend.SQLiteURL(filepath.Join(t.TempDir(), "aleph.db"))
	res2 := copyDB(t, pgURL, backURL)
	n = startNode(t, node.Config{DataDir: dataDir, DatabaseURL: backURL, MaxRetries: 1000, MaxBackoff: time.Hour})
	checkStatuses(t, n.url, live)
	back := collect(t, n.url, urls)
	n.stop(t)
	compareAnswers(t, "sqlite copy of the postgres copy", onPG, back, true)
	compareAnswers(t, "sqlite copy vs original", orig, back, false)
	t.Logf("PostgreSQL → SQLite: %d rows in %s (%.0f rows/s)", res2.Rows, res2.Duration.Round(time.Millisecond), rate(res2))
	for i, c := range res.Tables {
		if res2.Tables[i] != c {
			t.Errorf("table %s: %d rows, then %d", c.Table, c.Rows, res2.Tables[i].Rows)
		}
	}
	t.Logf("tables: %v; test ran %s", res.Tables, time.Since(start).Round(time.Millisecond))
}

func rate(r *dbcopy.Result) float64 { return float64(r.Rows) / r.Duration.Seconds() }

func copyDB(t *testing.T, from, to string) *dbcopy.Result {
	t.Helper()
	var last sync.Map
	res, err := dbcopy.Copy(context.Background(), from, to, dbcopy.Options{Progress: func(table string, done, total int64) {
		if done > total {
			t.Errorf("progress %s: %d of %d", table, done, total)
		}
		last.Store(table, done)
	}})
	if err != nil {
		t.Fatalf("copy %s → %s: %v", backend.Redact(from), backend.Redact(to), err)
	}
	for _, c := range res.Tables {
		if v, ok := last.Load(c.Table); !ok || v.(int64) != c.Rows {
			t.Errorf("last progress of %s: %v, want %d", c.Table, v, c.Rows)
		}
	}
	if res.Tables[0].Table != "messages" || res.Tables[0].Rows != totalMessages {
		t.Errorf("copied %+v, want %d messages", res.Tables[0], totalMessages)
	}
	return res
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

// bulk is the history written through the store.
type bulk struct {
	hashes   []string // a sample
	senders  []string
	channels []string
}

// bulkFill writes n processed POSTs as the node's applier would, in large
// transactions; they look like bench/fill's (SDK-shaped inline content,
// real addresses, one time per message, spread over senders and
// channels), with signatures of the right shape that are never checked.
func bulkFill(t *testing.T, dbURL string, n int) *bulk {
	t.Helper()
	ctx := context.Background()
	db, err := backend.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := &bulk{}
	for i := range 100 {
		a, err := eth.NewAccount()
		if err != nil {
			t.Fatal(err)
		}
		b.senders = append(b.senders, a.Address())
		if i < 10 {
			b.channels = append(b.channels, fmt.Sprintf("BULK-%02d", i))
		}
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	const first, last = 1609459200.0, 1700000000.0
	step := (last - first) / float64(n)
	words := strings.Fields("aleph node message post storage compute network the a of and to in is for hello world")
	text := func(k int) string {
		var sb strings.Builder
		for j := range k {
			if j > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(words[rng.IntN(len(words))])
		}
		return sb.String()
	}
	const batch = 25000
	for lo := 0; lo < n; lo += batch {
		err := db.Update(ctx, func(tx store.Tx) error {
			for i := lo; i < min(lo+batch, n); i++ {
				sender := b.senders[rng.IntN(len(b.senders))]
				envTime := first + float64(i)*step + rng.Float64()*step*0.9
				envTime = float64(int64(envTime*1e6)) / 1e6
				body := map[string]any{"title": text(3), "body": text(5 + rng.IntN(40)), "seq": i}
				if rng.IntN(3) == 0 {
					body["tags"] = []string{words[rng.IntN(len(words))]}
				}
				item, _ := json.Marshal(struct {
					Type    string         `json:"type"`
					Address string         `json:"address"`
					Content map[string]any `json:"content"`
					Time    float64        `json:"time"`
				}{[]string{"chat", "blog", "note"}[rng.IntN(3)], sender, body, envTime - 0.001})
				m := message.Message{Chain: "ETH", Sender: sender, Type: message.TypePost, ItemType: message.ItemInline,
					ItemContent: string(item), ItemHash: message.InlineHash(string(item)), Time: envTime,
					Channel: b.channels[rng.IntN(len(b.channels))], Signature: "0x" + strings.Repeat("ab", 65)}
				c, err := message.ParseContent(&m, item)
				if err != nil {
					return err
				}
				rec := &store.Record{Message: m, Content: c.Raw, Size: int64(utf8.RuneCount(item)), Status: store.StatusProcessed,
					ReceptionTime: envTime + 0.25, Owner: c.Address, ContentType: c.Post.Type}
				if _, err := tx.InsertMessage(rec); err != nil {
					return err
				}
				if err := tx.InsertPost(&store.Post{ItemHash: m.ItemHash, Owner: c.Address, Type: c.Post.Type, Channel: m.Channel,
					Content: c.Post.Content, CreationTime: c.Time}); err != nil {
					return err
				}
				if i%9973 == 0 {
					b.hashes = append(b.hashes, m.ItemHash)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return b
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

// compareAnswers checks every answer of b against a: byte for byte when
// exact, else as JSON values (jsonb rewrites content objects: key order,
// spaces). It returns the number of byte-identical answers.
func compareAnswers(t *testing.T, name string, a, b map[string]answer, exact bool) int {
	t.Helper()
	same, shown := 0, 0
	for u, x := range a {
		y := b[u]
		if x.code != y.code {
			t.Errorf("%s: %s: HTTP %d, original %d: %.200s", name, u, y.code, x.code, y.body)
			continue
		}
		if bytes.Equal(x.body, y.body) {
			same++
			continue
		}
		if !exact && canonical(x.body) != "" && canonical(x.body) == canonical(y.body) {
			if shown < 1 {
				shown++
				t.Logf("%s: %s equal as JSON, not as text:\n%.300s\n%.300s", name, u, x.body, y.body)
			}
			continue
		}
		cx, cy := canonical(x.body), canonical(y.body)
		i := 0
		for i < min(len(cx), len(cy)) && cx[i] == cy[i] {
			i++
		}
		t.Errorf("%s: %s differs at %d:\n%.300s\n%.300s", name, u, i, cx[max(i-100, 0):], cy[max(i-100, 0):])
	}
	return same
}

// canonical re-encodes a JSON document with sorted keys and numbers
// written as exact fractions: jsonb keeps values, not their text (it
// writes 1.5e-7 as 0.00000015).
func canonical(b []byte) string {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return ""
	}
	out, _ := json.Marshal(exact(v))
	return string(out)
}

func exact(v any) any {
	switch x := v.(type) {
	case json.Number:
		if r, ok := new(big.Rat).SetString(string(x)); ok {
			return "number " + r.RatString()
		}
	case map[string]any:
		for k, e := range x {
			x[k] = exact(e)
		}
	case []any:
		for i, e := range x {
			x[i] = exact(e)
		}
	}
	return v
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
