package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
)

// TestWebsocket: a websocket to a program goes through the gateway (HTTP
// upgrade) and outlives the gateway's write timeout.
func TestWebsocket(t *testing.T) {
	core := startCore(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == usagePath {
			fmt.Fprint(w, `{"cpu":{"count":2},"mem":{"available_kB":1000000},"active":true}`)
			return
		}
		if r.URL.Path != "/vm/"+testHash+"/ws" {
			http.NotFound(w, r)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for { // echo, upper-cased
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, []byte(strings.ToUpper(string(b)))); err != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	announce(t, core, base, testHash)
	rc := RoleConfig{CoreURL: core, DNSServer: "127.0.0.1:1"}
	rc.HTTP.WriteTimeout = 300 * time.Millisecond
	gw := startGateway(t, rc)
	waitUpstreams(t, gw, testHash, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, gw.URL()+"/ws", &websocket.DialOptions{Host: hostOf(t, testHash, "gw.test")})
	if err != nil {
		t.Fatalf("dial through the gateway: %v (%v)", err, res)
	}
	defer ws.CloseNow()
	gauge := gw.proxy.metrics.websockets.WithLabelValues(base)
	if n := testutil.ToFloat64(gauge); n != 1 {
		t.Errorf("%v websockets open, want 1", n)
	}
	for i, msg := range []string{"hello", "after the write timeout"} {
		if i == 1 {
			time.Sleep(2 * rc.HTTP.WriteTimeout) // the condition under test: time passing
		}
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatalf("write %q: %v", msg, err)
		}
		_, b, err := ws.Read(ctx)
		if err != nil || string(b) != strings.ToUpper(msg) {
			t.Fatalf("read: %q %v, want %q", b, err, strings.ToUpper(msg))
		}
	}
	ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the websocket closed at the gateway", func() bool { return testutil.ToFloat64(gauge) == 0 })
}

// TestDomainsAggregate: a custom domain without an _aleph-id record is
// served when the owner its _control record names maps it to the program
// in their domains aggregate; not when another address owns the domain,
// nor for an ipfs entry, nor once detached.
func TestDomainsAggregate(t *testing.T) {
	p := startProgram(t)
	owner, stranger := ethtest.Account(t), ethtest.Account(t)
	c := client.New(p.core)
	set := func(content map[string]any) {
		t.Helper()
		res, err := c.UpdateAggregate(t.Context(), owner, domainsKey, content, client.WriteOptions{Sync: true})
		if err != nil || res.Status != client.StatusProcessed {
			t.Fatalf("domains aggregate: %v %v", res, err)
		}
	}
	set(map[string]any{
		"shop.example.test":   map[string]any{"type": "program", "message_id": testHash, "programType": "program"},
		"static.example.test": map[string]any{"type": "ipfs", "message_id": testHash},
		"theirs.example.test": map[string]any{"type": "program", "message_id": testHash},
	})
	p.dns.setRecord("_control.shop.example.test", owner.Address())
	p.dns.setRecord("_control.static.example.test", owner.Address())
	p.dns.setRecord("_control.theirs.example.test", stranger.Address())
	gw := startGateway(t, RoleConfig{CoreURL: p.core, DNSServer: p.dns.addr})
	gw.proxy.domains.ttl = 200 * time.Millisecond
	waitUpstreams(t, gw, testHash, 1)
	hc := &http.Client{Timeout: 30 * time.Second}
	if code, body, err := get(hc, gw.URL(), "shop.example.test", "/x"); err != nil || code != 200 || !strings.HasPrefix(body, "A /vm/"+testHash+"/x shop.example.test") {
		t.Errorf("shop: %d %q %v", code, body, err)
	}
	for _, host := range []string{"static.example.test", "theirs.example.test", "nothing.example.test"} {
		if code, body, err := get(hc, gw.URL(), host, "/"); err != nil || code != 404 || !strings.Contains(body, "unknown_host") {
			t.Errorf("%s: %d %q %v", host, code, body, err)
		}
	}
	set(map[string]any{"shop.example.test": nil})
	waitFor(t, "the detached domain unknown", func() bool {
		code, _, err := get(hc, gw.URL(), "shop.example.test", "/")
		return err == nil && code == 404
	})
}

// setRecord sets the TXT record name to value.
func (d *testDNS) setRecord(name, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.txt[dns.Fqdn(name)] = value
}
