package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/vectors"
	"github.com/goaleph/goaleph/message"
)

func vectorsDir(t *testing.T) string { return vectors.Dir(t) }

// replay sends a vector's recorded request to the handler.
func replay(t *testing.T, h http.Handler, req vectors.Request) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if len(req.Parts) == 0 {
		r = httptest.NewRequest(http.MethodPost, req.Path, bytes.NewReader(req.Body))
		r.Header.Set("Content-Type", "application/json")
	} else {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for _, p := range req.Parts {
			hdr := textproto.MIMEHeader{}
			if p.Filename != "" {
				hdr.Set("Content-Disposition", `form-data; name="`+p.Name+`"; filename="`+p.Filename+`"`)
				hdr.Set("Content-Type", p.ContentType)
				w, _ := mw.CreatePart(hdr)
				b, err := base64.StdEncoding.DecodeString(p.Base64)
				if err != nil {
					t.Fatal(err)
				}
				w.Write(b)
			} else {
				w, _ := mw.CreateFormField(p.Name)
				w.Write([]byte(p.Value))
			}
		}
		mw.Close()
		r = httptest.NewRequest(http.MethodPost, req.Path, &body)
		r.Header.Set("Content-Type", mw.FormDataContentType())
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestSDKVectors replays every request the official SDK recorded: each is
// accepted and processed; then every tampered variant is refused with the
// documented status and error code.
func TestSDKVectors(t *testing.T) {
	n := testNode(t, Config{})
	h := n.Handler()
	dir := vectorsDir(t)
	// Order matters: posts and stores before the forgets that target them.
	for _, name := range []string{"eth-post", "sol-post", "eth-aggregate", "sol-aggregate", "eth-store", "sol-store", "eth-forget", "sol-forget"} {
		b, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Request vectors.Request `json:"request"`
			Message message.Message `json:"message"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		w := replay(t, h, v.Request)
		if w.Code != http.StatusOK && w.Code != http.StatusAccepted {
			t.Fatalf("%s: HTTP %d %s", name, w.Code, w.Body)
		}
		want := store.StatusProcessed
		waitStatus(t, n, v.Message.ItemHash, want)
	}

	// Forgets target the posts: they are forgotten now.
	for _, name := range []string{"eth-post", "sol-post"} {
		b, _ := os.ReadFile(filepath.Join(dir, name+".json"))
		var v struct{ Message message.Message }
		json.Unmarshal(b, &v)
		waitStatus(t, n, v.Message.ItemHash, store.StatusForgotten)
	}
}

func TestNegativeVectors(t *testing.T) {
	n := testNode(t, Config{})
	h := n.Handler()
	for _, c := range vectors.Envelopes(t) {
		body, _ := json.Marshal(map[string]any{"sync": true, "message": c.Message})
		w := replay(t, h, vectors.Request{Path: "/api/v0/messages", Body: body})
		var resp struct {
			MessageStatus string        `json:"message_status"`
			ErrorCode     *message.Code `json:"error_code"`
		}
		json.Unmarshal(w.Body.Bytes(), &resp)
		var m struct {
			ItemHash string `json:"item_hash"`
		}
		json.Unmarshal(c.Message, &m)
		if w.Code != http.StatusUnprocessableEntity || resp.ErrorCode == nil {
			t.Errorf("%s: HTTP %d %s, want 422 with an error code", c.Name, w.Code, w.Body)
			continue
		}
		switch {
		case strings.Contains(c.Name, "item-hash"), strings.Contains(c.Name, "content-changed"):
			// Refused at ingestion: never stored.
			if *resp.ErrorCode != message.CodeInvalidFormat {
				t.Errorf("%s: code %d, want %d", c.Name, *resp.ErrorCode, message.CodeInvalidFormat)
			}
			if st, err := n.store.Status(context.Background(), m.ItemHash); err == nil && st.Status == store.StatusProcessed {
				t.Errorf("%s: stored as processed", c.Name)
			}
		default:
			// Bad signatures are rejected by processing, and the rejection
			// is recorded with its code.
			if *resp.ErrorCode != message.CodeInvalidSignature || resp.MessageStatus != "rejected" {
				t.Errorf("%s: %s code %d, want rejected with %d", c.Name, resp.MessageStatus, *resp.ErrorCode, message.CodeInvalidSignature)
			}
			st := waitStatus(t, n, m.ItemHash, store.StatusRejected)
			if st.Rejected.ErrorCode != message.CodeInvalidSignature {
				t.Errorf("%s: stored code %d", c.Name, st.Rejected.ErrorCode)
			}
		}
	}
}

// TestBadRequests checks that client mistakes get 4xx answers, never 500.
func TestBadRequests(t *testing.T) {
	n := testNode(t, Config{})
	h := n.Handler()
	cases := []struct {
		path, ctype, body string
		want              int
	}{
		{"/api/v0/messages", "application/json", `{`, 422},
		{"/api/v0/messages", "application/json", `{"message": 5}`, 422},
		{"/api/v0/messages", "application/json", `{"message": {"chain": "ETH"}}`, 422},
		{"/api/v0/messages", "application/json", `{"message":{}}` + strings.Repeat(" ", 2<<20), 413},
		{"/api/v0/storage/add_json", "application/json", `{"a":`, 422},
		{"/api/v0/storage/add_file", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\nnot json\r\n--x--\r\n", 422},
		{"/api/v0/storage/add_file", "multipart/form-data; boundary=x", "garbage", 400},
		{"/api/v0/storage/add_file", "application/octet-stream", strings.Repeat("x", 25<<20+1), 413},
		{"/api/v0/ipfs/pubsub/pub", "application/json", `{"topic":"OTHER","data":"{}"}`, 403},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodPost, c.path, strings.NewReader(c.body))
		r.Header.Set("Content-Type", c.ctype)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("POST %s %.40q: HTTP %d %s, want %d", c.path, c.body, w.Code, w.Body.String(), c.want)
		}
	}
}

// TestSubmitWhileStopped: a node whose writer has stopped answers 503 (and
// stores nothing) rather than hanging or answering 500.
func TestSubmitWhileStopped(t *testing.T) {
	n, stop := startNode(t, Config{})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	m := post(t, ethtest.Account(t), "blog", "late", "")
	body, _ := json.Marshal(map[string]any{"sync": true, "message": m})
	w := replay(t, n.Handler(), vectors.Request{Path: "/api/v0/messages", Body: body})
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("HTTP %d %s, want 503", w.Code, w.Body)
	}
}
