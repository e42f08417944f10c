package crn

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
)

// TestCRNClient drives the node with the Go client's CRN: the domain from
// /status/config, the executions list, the owner's logs, reboot and stop,
// a stranger's 403, and notify's refusals as *client.Error with the
// node's reason (a node without the micro VM backend runs no instance).
func TestCRNClient(t *testing.T) {
	data := wasmtestProgram(t)
	k := startCore(t)
	prog := k.program(t, k.store(t, data, ""), programOpts{memory: 128})
	n := startCRN(t, k, crnOpts{idle: time.Hour})
	c := client.NewCRN(n.url)
	ctx := t.Context()
	if d, err := c.Domain(ctx); err != nil || d != "crn.test" {
		t.Fatalf("domain: %q %v", d, err)
	}
	if resp, body := n.get(t, "/vm/"+prog+"/log?n=2"); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	list, err := c.Executions(ctx)
	if err != nil || list[prog].VMType != "microvm" || !list[prog].Running || list[prog].SSHPort() != 0 {
		t.Fatalf("executions: %+v %v", list, err)
	}
	logs, err := c.Logs(ctx, k.a, prog)
	if err != nil || len(logs) != 2 || logs[1].Message != "line 1" || logs[0].File != "stderr" {
		t.Fatalf("logs: %+v %v", logs, err)
	}
	var ce *client.Error
	if _, err := c.Operate(ctx, ethtest.Account(t), client.OpReboot, prog); !errors.As(err, &ce) ||
		ce.Status != http.StatusForbidden || !strings.Contains(ce.Message, "not the owner") {
		t.Errorf("a stranger's reboot: %v", err)
	}
	if out, err := c.Operate(ctx, k.a, client.OpReboot, prog); err != nil || out != "Rebooted VM "+prog {
		t.Errorf("reboot: %q %v", out, err)
	}
	if out, err := c.Operate(ctx, k.a, client.OpStop, prog); err != nil || out != "Stopped VM "+prog {
		t.Errorf("stop: %q %v", out, err)
	}
	if _, err := c.Operate(ctx, k.a, client.OpStop, prog); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("stop again: %v; want a 404", err)
	}
	if _, err := c.Operate(ctx, k.a, "explode", prog); err == nil {
		t.Error("an unknown operation was sent")
	}

	err = c.NotifyInstance(ctx, prog)
	if !errors.As(err, &ce) || ce.Status != http.StatusNotImplemented {
		t.Errorf("notify without instances: %v", err)
	}
}
