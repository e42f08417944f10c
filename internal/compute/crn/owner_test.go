package crn

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/message"
)

// signedDo sends an owner operation signed by s (unsigned when s is nil).
func (n *node) signedDo(t *testing.T, s message.Signer, domain, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, n.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s != nil {
		h, err := OwnerHeaders(s, domain, method, path, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range h {
			req.Header[k] = v
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp, readAll(t, resp)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

// TestOwnerOperations: the owner of a program reads its logs, streams
// them, reboots and stops its execution; others get 401, 403 or 404.
func TestOwnerOperations(t *testing.T) {
	data := wasmtestProgram(t)
	k := startCore(t)
	prog := k.program(t, k.store(t, data, ""), programOpts{memory: 128})
	n := startCRN(t, k, crnOpts{idle: time.Hour})
	stranger, err := eth.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	base := "/control/machine/" + prog

	// No execution yet: 404 (after authentication).
	resp, body := n.signedDo(t, k.a, "crn.test", "GET", base+"/logs")
	wantError(t, resp, body, 404, "No execution")

	if resp, body := n.get(t, "/vm/"+prog+"/log?n=3"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	first := n.s.pool.list()
	if len(first) != 1 {
		t.Fatalf("executions %v", first)
	}

	resp, body = n.signedDo(t, nil, "", "GET", base+"/logs")
	wantError(t, resp, body, 401, "missing")
	resp, body = n.signedDo(t, k.a, "other.test", "GET", base+"/logs")
	wantError(t, resp, body, 401, "domain")
	resp, body = n.signedDo(t, stranger, "crn.test", "GET", base+"/logs")
	wantError(t, resp, body, 403, "not the owner")
	resp, body = n.signedDo(t, stranger, "crn.test", "POST", base+"/stop")
	wantError(t, resp, body, 403, "not the owner")

	// A tampered operation: the owner's headers with another path signed.
	h, err := OwnerHeaders(k.a, "crn.test", "GET", base+"/logs", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := OwnerHeaders(stranger, "crn.test", "GET", base+"/logs", time.Minute)
	req, _ := http.NewRequestWithContext(t.Context(), "GET", n.url+base+"/logs", nil)
	req.Header.Set(HeaderSignedPubKey, h.Get(HeaderSignedPubKey))
	req.Header.Set(HeaderSignedOperation, other.Get(HeaderSignedOperation)) // signed by another key
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, r2, readAll(t, r2), 401, "invalid signature")
	r2.Body.Close()
	// The owner's operation replayed on another route.
	req, _ = http.NewRequestWithContext(t.Context(), "POST", n.url+base+"/stop", nil)
	req.Header = h
	if r2, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	wantError(t, r2, readAll(t, r2), 401, "signed for GET")
	r2.Body.Close()

	resp, body = n.signedDo(t, k.a, "crn.test", "GET", base+"/logs")
	if resp.StatusCode != 200 {
		t.Fatalf("logs: %d %s", resp.StatusCode, body)
	}
	var logs []map[string]string
	if err := json.Unmarshal([]byte(body), &logs); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var got []string
	for _, l := range logs {
		if l["file"] != "stderr" || l["__REALTIME_TIMESTAMP"] == "" || !strings.HasPrefix(l["SYSLOG_IDENTIFIER"], "vm-"+prog) {
			t.Errorf("log entry %v", l)
		}
		got = append(got, l["MESSAGE"])
	}
	if strings.Join(got, "|") != "line 0|line 1|line 2" {
		t.Errorf("logs %q", got)
	}

	// The live stream: past lines, then new ones.
	t.Run("stream", func(t *testing.T) {
		u := "ws" + strings.TrimPrefix(n.url, "http") + base + "/stream_logs"
		dial := func(s message.Signer) *websocket.Conn {
			c, _, err := websocket.Dial(t.Context(), u, nil)
			if err != nil {
				t.Fatal(err)
			}
			h, err := OwnerHeaders(s, "crn.test", "GET", base+"/stream_logs", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			auth := map[string]json.RawMessage{}
			for _, name := range []string{HeaderSignedPubKey, HeaderSignedOperation} {
				auth[name] = json.RawMessage(h.Get(name))
			}
			b, _ := json.Marshal(map[string]any{"auth": auth})
			if err := c.Write(t.Context(), websocket.MessageText, b); err != nil {
				t.Fatal(err)
			}
			return c
		}
		read := func(c *websocket.Conn) map[string]string {
			t.Helper()
			_, b, err := c.Read(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]string
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			return m
		}
		bad := dial(stranger)
		if m := read(bad); m["status"] != "failed" || !strings.Contains(m["reason"], "not the owner") {
			t.Errorf("stranger: %v", m)
		}
		bad.CloseNow()

		c := dial(k.a)
		defer c.CloseNow()
		if m := read(c); m["status"] != "connected" {
			t.Fatalf("%v", m)
		}
		for i := range 3 {
			if m := read(c); m["type"] != "stderr" || m["message"] != fmt.Sprintf("line %d", i) {
				t.Fatalf("past line %d: %v", i, m)
			}
		}
		if resp, _ := n.get(t, "/vm/"+prog+"/log?n=2"); resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
		for i := range 2 {
			if m := read(c); m["type"] != "stderr" || m["message"] != fmt.Sprintf("line %d", i) {
				t.Fatalf("new line %d: %v", i, m)
			}
		}
	})

	// Reboot: a new instance of the same program, already running.
	resp, body = n.signedDo(t, k.a, "crn.test", "POST", base+"/reboot")
	if resp.StatusCode != 200 || !strings.Contains(body, "Rebooted") {
		t.Fatalf("reboot: %d %s", resp.StatusCode, body)
	}
	after := n.s.pool.list()
	if len(after) != 1 || !after[0].Prepared.After(first[0].Prepared) {
		t.Fatalf("after reboot: %v, before %v", after, first)
	}
	resp, body = n.signedDo(t, k.a, "crn.test", "GET", base+"/logs")
	if resp.StatusCode != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("logs after reboot: %d %s", resp.StatusCode, body)
	}

	// Stop: the execution is gone; the next request prepares it again.
	resp, body = n.signedDo(t, k.a, "crn.test", "POST", base+"/stop")
	if resp.StatusCode != 200 || !strings.Contains(body, "Stopped") {
		t.Fatalf("stop: %d %s", resp.StatusCode, body)
	}
	if l := n.s.pool.list(); len(l) != 0 {
		t.Fatalf("after stop: %v", l)
	}
	resp, body = n.signedDo(t, k.a, "crn.test", "POST", base+"/stop")
	wantError(t, resp, body, 404, "No execution")
	if resp, body := n.get(t, "/vm/"+prog+"/log?n=1"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if l := n.s.pool.list(); len(l) != 1 || !l[0].Prepared.After(after[0].Prepared) {
		t.Fatalf("after stop and request: %v", l)
	}
}
