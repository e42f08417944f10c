package crn

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
)

func TestMatchSubscription(t *testing.T) {
	doc := map[string]any{}
	if err := json.Unmarshal([]byte(`{"type":"POST","channel":"X","sender":"0xabc","time":12.5,
		"content":{"type":"chat","ref":"r1","n":3,"tags":["a","b"]}}`), &doc); err != nil {
		t.Fatal(err)
	}
	// Numbers of doc as json.Number, as the registry decodes them.
	doc["time"] = json.Number("12.5")
	doc["content"].(map[string]any)["n"] = json.Number("3")
	for _, c := range []struct {
		sub  string
		want bool
	}{
		{`{}`, true},
		{`{"channel":"X"}`, true},
		{`{"channel":"Y"}`, false},
		{`{"channel":["Y","X"]}`, true},
		{`{"type":"POST","content":{"type":"chat"}}`, true},
		{`{"type":"POST","content":{"type":"other"}}`, false},
		{`{"content":{"ref":"r1","n":3}}`, true},
		{`{"content":{"n":3.0}}`, true},
		{`{"content":{"tags":["a","b"]}}`, true},
		{`{"content":{"tags":["a"]}}`, false},
		{`{"content":"chat"}`, false},
		{`{"missing":"x"}`, false},
		{`{"time":12.5}`, true},
	} {
		var sub map[string]any
		d := json.NewDecoder(strings.NewReader(c.sub))
		d.UseNumber()
		if err := d.Decode(&sub); err != nil {
			t.Fatal(err)
		}
		if got := matchSubscription(sub, doc); got != c.want {
			t.Errorf("%s: got %v, want %v", c.sub, got, c.want)
		}
	}
}

type event struct {
	program string
	msg     *client.Message
	resp    *compute.Response
	err     error
}

// TestMessageTriggered posts messages to a core node and checks that the
// programs subscribed to them run, with the event scope, and the others
// not: one program listed at the node's start, one learned from the
// WebSocket.
func TestMessageTriggered(t *testing.T) {
	data := wasmtestProgram(t)
	k := startCore(t)
	code := k.store(t, data, "")
	early := k.program(t, code, programOpts{on: map[string]any{"http": true,
		"message": []any{map[string]any{"channel": "TRIGGER", "content": map[string]any{"type": "go"}}}}})
	n := startCRN(t, k, crnOpts{})
	var mu sync.Mutex
	var events []event
	n.s.reg.mu.Lock()
	n.s.reg.onEvent = func(program string, m *client.Message, resp *compute.Response, err error) {
		mu.Lock()
		events = append(events, event{program, m, resp, err})
		mu.Unlock()
	}
	n.s.reg.mu.Unlock()
	known := func(h string) error {
		n.s.reg.mu.Lock()
		defer n.s.reg.mu.Unlock()
		if n.s.reg.programs[h] == nil {
			return fmt.Errorf("program %s not known: %w", h, errNotYet)
		}
		return nil
	}
	eventually(t, 10*time.Second, func() error { return known(early) })
	// The first call prepares the program (compiling the module takes
	// seconds under -race), so that the events below measure only the
	// reactor.
	if resp, _ := n.get(t, "/vm/"+early+"/"); resp.StatusCode != 200 {
		t.Fatalf("warm-up call: %d", resp.StatusCode)
	}
	late := k.program(t, code, programOpts{on: map[string]any{"http": true,
		"message": []any{map[string]any{"channel": "LATE"}}}})
	eventually(t, 10*time.Second, func() error { return known(late) })

	post := func(channel, typ string) string {
		t.Helper()
		res, err := k.c.Post(t.Context(), k.a, client.PostParams{Type: typ, Channel: channel,
			Content: map[string]any{"hello": "world"}, Sync: true})
		if err != nil || res.Status != client.StatusProcessed {
			t.Fatalf("post: %v %v", res, err)
		}
		return res.Message.ItemHash
	}
	other := post("OTHER", "go")      // wrong channel
	wrongType := post("TRIGGER", "x") // wrong content.type
	hit := post("TRIGGER", "go")
	lateHit := post("LATE", "anything")

	eventsOf := func(msg string) []event {
		mu.Lock()
		defer mu.Unlock()
		var out []event
		for _, e := range events {
			if e.msg.ItemHash == msg {
				out = append(out, e)
			}
		}
		return out
	}
	for _, c := range []struct{ msg, program string }{{hit, early}, {lateHit, late}} {
		eventually(t, 20*time.Second, func() error {
			if len(eventsOf(c.msg)) == 0 {
				return fmt.Errorf("no event for %s: %w", c.msg, errNotYet)
			}
			return nil
		})
		evs := eventsOf(c.msg)
		if len(evs) != 1 || evs[0].program != c.program || evs[0].err != nil || evs[0].resp.Status != 200 {
			t.Fatalf("events for %s: %+v", c.msg, evs)
		}
		var echo wasmtest.Echo
		if err := json.Unmarshal(evs[0].resp.Body, &echo); err != nil {
			t.Fatalf("%v: %s", err, evs[0].resp.Body)
		}
		var got struct {
			ItemHash string `json:"item_hash"`
			Channel  string `json:"channel"`
		}
		if err := json.Unmarshal([]byte(echo.Body), &got); err != nil || got.ItemHash != c.msg {
			t.Errorf("the program got %q (%v)", echo.Body, err)
		}
		if echo.Method != "POST" || echo.Path != "/" || echo.Env["ALEPH_SCOPE_TYPE"] != "aleph.message" ||
			echo.Env["CONTENT_TYPE"] != "application/json" || echo.Env["ALEPH_PROGRAM_HASH"] != c.program {
			t.Errorf("echo %+v", echo)
		}
	}
	for _, m := range []string{other, wrongType} {
		if evs := eventsOf(m); len(evs) != 0 {
			t.Errorf("message %s triggered %+v", m, evs)
		}
	}
	_, body := n.get(t, "/metrics")
	if !strings.Contains(body, `aleph_crn_events_total{result="ok"} 2`) {
		t.Errorf("metrics: %s", body)
	}
}

// TestPersistent checks that a persistent program runs without a request,
// outlives the idle timeout, and runs again after its instance is stopped
// from outside.
func TestPersistent(t *testing.T) {
	defer func(d time.Duration) { persistentMinBackoff = d }(persistentMinBackoff)
	persistentMinBackoff = 50 * time.Millisecond
	k := startCore(t)
	code := k.store(t, cgiModule("persistent", false), "")
	prog := k.program(t, code, programOpts{on: map[string]any{"http": true, "persistent": true}})
	n := startCRN(t, k, crnOpts{idle: -1}) // others stop after each request

	current := func() *execution {
		n.s.pool.mu.Lock()
		defer n.s.pool.mu.Unlock()
		if e := n.s.pool.currentLocked(prog); e != nil && !e.dead() {
			return e
		}
		return nil
	}
	var first *execution
	eventually(t, 20*time.Second, func() error {
		if first = current(); first == nil {
			return fmt.Errorf("persistent program not started: %w", errNotYet)
		}
		return nil
	})
	resp, body := n.get(t, "/vm/"+prog+"/")
	if resp.StatusCode != 200 || body != "persistent" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	time.Sleep(100 * time.Millisecond)
	if current() != first {
		t.Fatal("the persistent program was stopped after a request")
	}

	// Kill it from outside: its instance stops as if it had died.
	if err := first.inst.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if e := current(); e == nil || e == first {
			return fmt.Errorf("not restarted: %w", errNotYet)
		}
		return nil
	})
	resp, body = n.get(t, "/vm/"+prog+"/")
	if resp.StatusCode != 200 || body != "persistent" {
		t.Fatalf("after restart: %d %s", resp.StatusCode, body)
	}
	_, body = n.get(t, "/metrics")
	if !strings.Contains(body, "aleph_crn_persistent_restarts_total 1") {
		t.Errorf("metrics lack the restart")
	}
}
