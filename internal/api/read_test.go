package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/sqlite"
	"github.com/goaleph/goaleph/message"
)

// fakeNode stands in for the core node in read tests: the read endpoints
// only use Subscribe (WebSocket live feed), which tests drive by hand.
type fakeNode struct {
	mu        sync.Mutex
	subs      map[chan *store.Record]bool
	published uint64
}

func (n *fakeNode) Submit(ctx context.Context, m *message.Message, origin string, wait bool) (store.Status, error) {
	return store.StatusPending, nil
}

func (n *fakeNode) VerifySignature(m *message.Message) error { return nil }

func (n *fakeNode) PinUpload(ctx context.Context, f files.Info) error { return nil }

func (n *fakeNode) Subscribe(buffer int) (<-chan *store.Record, func()) {
	ch := make(chan *store.Record, buffer)
	n.mu.Lock()
	if n.subs == nil {
		n.subs = map[chan *store.Record]bool{}
	}
	n.subs[ch] = true
	n.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			n.mu.Lock()
			delete(n.subs, ch)
			n.mu.Unlock()
		})
	}
}

// publish sends r to every subscriber, as the node does after processing.
func (n *fakeNode) publish(r *store.Record) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.published++
	for ch := range n.subs {
		ch <- r
	}
}

// Published counts publish calls, as the node does.
func (n *fakeNode) Published() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.published
}

func (n *fakeNode) subscribers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.subs)
}

// env is a Server over a real SQLite store and file store.
type env struct {
	t     testing.TB
	db    *sqlite.DB
	files *files.Store
	node  *fakeNode
	srv   *Server
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "aleph.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fs, err := files.Open(filepath.Join(dir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	e := &env{t: t, db: db, files: fs, node: &fakeNode{}}
	e.srv = New(Config{Node: e.node, Store: db, Files: fs, Version: "test"})
	return e
}

// update writes to the store as the pipeline does.
func (e *env) update(fn func(tx store.Tx) error) {
	e.t.Helper()
	if err := e.db.Update(context.Background(), fn); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) insert(recs ...*store.Record) {
	e.t.Helper()
	e.update(func(tx store.Tx) error {
		for _, r := range recs {
			if _, err := tx.InsertMessage(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// insertN inserts the messages newRec(mk(i)) for i below n in one
// transaction, calling then (when not nil) after each.
func (e *env) insertN(n int, mk func(i int) rec, then func(tx store.Tx, i int, r *store.Record) error) {
	e.t.Helper()
	e.update(func(tx store.Tx) error {
		for i := range n {
			r := newRec(mk(i))
			if _, err := tx.InsertMessage(r); err != nil {
				return err
			}
			if then != nil {
				if err := then(tx, i, r); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// do serves one request and returns the response.
func (e *env) do(method, target string, header ...string) *http.Response {
	e.t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec.Result()
}

// get serves GET target and returns status and body.
func (e *env) get(target string) (int, []byte) {
	e.t.Helper()
	res := e.do(http.MethodGet, target)
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body
}

// getJSON expects a 200 JSON answer.
func (e *env) getJSON(target string) []byte {
	e.t.Helper()
	code, body := e.get(target)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", target, code, body)
	}
	if !json.Valid(body) {
		e.t.Fatalf("GET %s: invalid JSON %s", target, body)
	}
	return body
}

// wantStatus checks the status of GET target and that an error body is
// a JSON object with "error".
func (e *env) wantStatus(target string, code int) {
	e.t.Helper()
	got, body := e.get(target)
	if got != code {
		e.t.Errorf("GET %s: status %d, want %d (%s)", target, got, code, body)
		return
	}
	if code >= 400 {
		var v struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &v) != nil || v.Error == "" {
			e.t.Errorf("GET %s: error body %s is not {\"error\": …}", target, body)
		}
	}
}

// keys returns the keys of a JSON object in document order.
func keys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", raw)
	}
	var out []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func wantKeys(t *testing.T, what string, raw []byte, want ...string) {
	t.Helper()
	if got := keys(t, raw); !reflect.DeepEqual(got, want) {
		t.Errorf("%s keys:\n got %v\nwant %v", what, got, want)
	}
}

// field returns one field of a JSON object, raw.
func field(t *testing.T, raw []byte, path ...string) json.RawMessage {
	t.Helper()
	cur := json.RawMessage(raw)
	for _, k := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(cur, &m); err != nil {
			t.Fatalf("%s is not an object at %q: %v", cur, k, err)
		}
		v, ok := m[k]
		if !ok {
			t.Fatalf("no %q in %s", k, cur)
		}
		cur = v
	}
	return cur
}

// items returns the elements of a JSON array field.
func items(t *testing.T, raw []byte, name string) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	if err := json.Unmarshal(field(t, raw, name), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func str(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	return decodeAs[string](t, raw, "a string")
}

func num(t *testing.T, raw json.RawMessage) float64 {
	t.Helper()
	return decodeAs[float64](t, raw, "a number")
}

// decodeAs decodes raw as a T, failing t with "raw is not what" otherwise.
func decodeAs[T any](t *testing.T, raw json.RawMessage, what string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s is not %s", raw, what)
	}
	return v
}

// rec describes a processed message for newRec.
type rec struct {
	typ      message.Type
	sender   string
	owner    string
	chain    string
	channel  string
	time     float64
	ptype    string // POST content.type
	ref      string
	key      string // AGGREGATE key
	fileHash string // STORE content.item_hash
	payment  string
	content  string // content.content JSON (default {"body": salt})
	tags     []string
	status   store.Status
	storage  bool // a non-inline (storage) message
	salt     string
}

// newRec builds a processed record whose inline content is written by hand
// (with spaces, so that tests can tell it is served verbatim).
func newRec(r rec) *store.Record {
	if r.typ == "" {
		r.typ = message.TypePost
	}
	if r.owner == "" {
		r.owner = r.sender
	}
	if r.chain == "" {
		r.chain = "ETH"
	}
	inner := r.content
	if inner == "" {
		var b strings.Builder
		b.WriteString(`{"body": `)
		s, _ := json.Marshal("<" + r.salt + ">")
		b.Write(s)
		if r.tags != nil {
			tg, _ := json.Marshal(r.tags)
			b.WriteString(`, "tags": `)
			b.Write(tg)
		}
		b.WriteString("}")
		inner = b.String()
	}
	addr, _ := json.Marshal(r.owner)
	var c string
	switch r.typ {
	case message.TypePost:
		c = `{"address": ` + string(addr) + `, "time": ` + message.FormatTime(r.time) + `, "type": "` + r.ptype + `", "content": ` + inner
		if r.ref != "" {
			c += `, "ref": "` + r.ref + `"`
		}
		c += "}"
	case message.TypeAggregate:
		c = `{"address": ` + string(addr) + `, "time": ` + message.FormatTime(r.time) + `, "key": "` + r.key + `", "content": ` + inner + "}"
	case message.TypeStore:
		c = `{"address": ` + string(addr) + `, "time": ` + message.FormatTime(r.time) + `, "item_type": "storage", "item_hash": "` + r.fileHash + `"`
		if r.ref != "" {
			c += `, "ref": "` + r.ref + `"`
		}
		c += "}"
	default:
		c = `{"address": ` + string(addr) + `, "time": ` + message.FormatTime(r.time) + `, "content": ` + inner + "}"
	}
	sum := sha256.Sum256([]byte(c))
	out := &store.Record{
		Message: message.Message{
			Sender: r.sender, Chain: r.chain, Signature: "0xsig" + r.salt, Type: r.typ, ItemType: message.ItemInline,
			ItemContent: c, ItemHash: hex.EncodeToString(sum[:]), Time: r.time, Channel: r.channel,
		},
		Content: json.RawMessage(c), Size: int64(len(c)), Status: r.status, ReceptionTime: r.time + 0.5,
		Owner: r.owner, PaymentType: r.payment,
	}
	if out.Status == "" {
		out.Status = store.StatusProcessed
	}
	if r.storage {
		out.ItemType, out.ItemContent = message.ItemStorage, ""
	}
	switch r.typ {
	case message.TypePost:
		out.ContentType, out.ContentRef = r.ptype, r.ref
	case message.TypeAggregate:
		out.ContentKey = r.key
	case message.TypeStore:
		out.ContentRef, out.ContentItemHash = r.ref, r.fileHash
	}
	return out
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
