package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

var errDown = fmt.Errorf("%w: dial tcp 127.0.0.1:5432: connect: connection refused", store.ErrUnavailable)

// downStore is a store whose server is unreachable for the queries the
// tests below make.
type downStore struct{ store.Store }

func (downStore) Status(context.Context, string) (*store.MessageStatus, error) { return nil, errDown }
func (downStore) ListMessages(context.Context, store.MessageFilter) (*store.MessagePage, error) {
	return nil, errDown
}
func (downStore) Channels(context.Context) ([]string, error) { return nil, errDown }
func (downStore) Aggregates(context.Context, string, []string) ([]store.Aggregate, error) {
	return nil, errDown
}
func (downStore) PinCount(context.Context, string) (int, error) { return 0, errDown }

// downNode answers submissions as the node does while its database is down.
type downNode struct{ fakeNode }

func (*downNode) Submit(context.Context, *message.Message, string, bool) (store.Status, error) {
	return "", fmt.Errorf("%w: %w", ErrUnavailable, errDown)
}

// TestDatabaseUnavailable: reads and writes the database cannot serve are
// 503 with a JSON error and Retry-After, never 500, and leak no detail.
func TestDatabaseUnavailable(t *testing.T) {
	e := newEnv(t)
	srv := New(Config{Node: &downNode{}, Store: downStore{e.db}, Files: e.files, Version: "test"})
	content := `{"type":"x","address":"0x0000000000000000000000000000000000000001","time":1,"content":{}}`
	sum := sha256.Sum256([]byte(content))
	hash := hex.EncodeToString(sum[:])
	env, _ := json.Marshal(map[string]any{"chain": "ETH", "sender": "0x0000000000000000000000000000000000000001",
		"type": "POST", "channel": "TEST", "item_type": "inline", "item_content": content,
		"item_hash": hash, "time": 1, "signature": "0x00"})
	post, _ := json.Marshal(map[string]any{"message": json.RawMessage(env), "sync": true})
	pub, _ := json.Marshal(map[string]any{"topic": "ALEPH-TEST", "data": string(env)})
	for _, tt := range []struct{ method, target, body string }{
		{"GET", "/api/v0/messages.json", ""},
		{"GET", "/api/v0/messages/" + hash, ""},
		{"GET", "/api/v0/channels/list.json", ""},
		{"GET", "/api/v0/aggregates/0x0000000000000000000000000000000000000001.json", ""},
		{"GET", "/api/v0/storage/count/" + hash, ""},
		{"POST", "/api/v0/messages", string(post)},
		{"POST", "/api/v0/ipfs/pubsub/pub", string(pub)},
	} {
		req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var body struct {
			Error string `json:"error"`
		}
		json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusServiceUnavailable || body.Error != "database unavailable, retry later" ||
			rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s %s: %d %q (Retry-After %q)", tt.method, tt.target, rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"))
		}
	}
}
