package crn

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/goaleph/goaleph/client"
)

// TestPaymentForgotten: with the feed off, the payment check alone stops
// an execution whose message was forgotten, after terminalObservations
// rounds, and counts it; the program then answers 410.
func TestPaymentForgotten(t *testing.T) {
	k := startCore(t)
	prog := k.program(t, k.store(t, cgiModule("up", false), ""), programOpts{})
	n := startCRN(t, k, crnOpts{noWatch: true, adjust: func(c *Config) { c.PaymentInterval = 50 * time.Millisecond }})
	if _, body := n.get(t, "/vm/"+prog+"/"); body != "up" {
		t.Fatal(body)
	}
	res, err := k.c.Forget(t.Context(), k.a, client.ForgetParams{Hashes: []string{prog}, Sync: true})
	if err != nil || res.Status != client.StatusProcessed {
		t.Fatalf("forget: %v %v", res, err)
	}
	eventually(t, 60*time.Second, func() error {
		if len(n.s.pool.list()) != 0 {
			return errNotYet
		}
		return nil
	})
	if got := testutil.ToFloat64(n.s.metrics.paymentStops.WithLabelValues(stopForgotten)); got != 1 {
		t.Errorf("stops by forgotten = %v, want 1", got)
	}
	resp, body := n.get(t, "/vm/"+prog+"/")
	wantError(t, resp, body, 410, "forgotten")
}

// TestPaymentQuotaOff: a core node without quotas admits programs nobody
// pays for; the payment check, against it, leaves them running (here an
// owner with no balance at all).
func TestPaymentQuotaOff(t *testing.T) {
	k := startCore(t)
	prog := k.program(t, k.store(t, cgiModule("up", false), ""), programOpts{})
	p, err := k.c.MessagePrice(t.Context(), prog)
	if err != nil || p.QuotaMode != "off" || p.Cost == "0" || p.Cost == "0.0" {
		t.Fatalf("price %+v %v: want a cost from a quota-off node", p, err)
	}
	n := startCRN(t, k, crnOpts{adjust: func(c *Config) { c.PaymentInterval = 50 * time.Millisecond }})
	if _, body := n.get(t, "/vm/"+prog+"/"); body != "up" {
		t.Fatal(body)
	}
	ok := n.s.metrics.paymentChecks.WithLabelValues("ok")
	eventually(t, 60*time.Second, func() error {
		if testutil.ToFloat64(ok) < 3 {
			return errNotYet
		}
		return nil
	})
	if l := n.s.pool.list(); len(l) != 1 {
		t.Fatalf("executions %v, want the program running", l)
	}
	if got := testutil.ToFloat64(n.s.metrics.paymentStops.WithLabelValues(stopBalance)); got != 0 {
		t.Errorf("stops for balance = %v", got)
	}
}
