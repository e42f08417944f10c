package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/message"
)

func TestSplitSample(t *testing.T) {
	tests := []struct {
		line  string
		name  string
		value float64
		ok    bool
	}{
		{`aleph_messages_processed_total{type="POST"} 20000`, "aleph_messages_processed_total", 20000, true},
		{`aleph_pending_messages 12`, "aleph_pending_messages", 12, true},
		{`process_cpu_seconds_total 1.25e+01`, "process_cpu_seconds_total", 12.5, true},
		{`aleph_apply_batch_seconds_bucket{le="+Inf"} 7`, "aleph_apply_batch_seconds_bucket", 7, true},
		{`garbage`, "", 0, false},
		{`name notanumber`, "", 0, false},
	}
	for _, tt := range tests {
		name, value, ok := splitSample(tt.line)
		if name != tt.name || value != tt.value || ok != tt.ok {
			t.Errorf("splitSample(%q) = %q, %v, %v; want %q, %v, %v", tt.line, name, value, ok, tt.name, tt.value, tt.ok)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile(nil) = %v", got)
	}
}

// TestBuild checks that the pre-built submissions are what the node
// accepts: a parseable envelope, the SDK's content key order, a hash of
// the item content and a valid signature.
func TestBuild(t *testing.T) {
	msgs, err := build(config{n: 10, senders: 3, channel: "TEST"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, s := range msgs {
		var body struct {
			Sync    *bool           `json:"sync"`
			Message json.RawMessage `json:"message"`
		}
		if err := json.Unmarshal(s.body, &body); err != nil || body.Sync == nil || *body.Sync {
			t.Fatalf("message %d: body %s", i, s.body)
		}
		m, err := message.Parse(body.Message)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if err := chain.Verify(m.Chain, m.Sender, m.VerificationBuffer(), m.Signature); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if _, err := message.ParseContent(m, []byte(m.ItemContent)); err != nil {
			t.Fatalf("message %d content: %v", i, err)
		}
		if want := `{"type":"bench","address":"` + m.Sender + `","content":`; len(m.ItemContent) < len(want) || m.ItemContent[:len(want)] != want {
			t.Errorf("message %d: item_content %s does not start with %s", i, m.ItemContent, want)
		}
		if seen[m.ItemHash] {
			t.Errorf("message %d: duplicate hash", i)
		}
		seen[m.ItemHash] = true
	}
}
