package guest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
)

// The agent's words a host relies on (cmd/aleph-guest): the log line it
// writes when the program exits, and its answer to a request once the
// program has exited. The protocol has no message for either.
const (
	ExitedLine   = "[aleph-guest] program exited"
	ExitedAnswer = "Program unavailable. The program has exited."
)

// Watch keeps a program's last output lines and notices, in them, that it
// exited. Its Add is the log sink of a Client (WithLogs).
type Watch struct {
	logs   *compute.LogRing
	exited chan struct{}
	once   sync.Once
}

// NewWatch returns a Watch keeping the last lines lines.
func NewWatch(lines int) *Watch {
	return &Watch{logs: compute.NewLogRing(lines), exited: make(chan struct{})}
}

// Add keeps l.
func (w *Watch) Add(l compute.LogLine) {
	if l.Stream == "stderr" && strings.HasPrefix(l.Text, ExitedLine) {
		w.once.Do(func() { close(w.exited) })
	}
	w.logs.Add(l)
}

// Exited is closed once the agent has said the program exited.
func (w *Watch) Exited() <-chan struct{} { return w.exited }

// Lines returns the lines kept, oldest first.
func (w *Watch) Lines() []compute.LogLine { return w.logs.Lines() }

// exitGrace is how long a call that failed waits for the program's exit to
// be reported: it comes just after the failed answer.
const exitGrace = 2 * time.Second

// CallProgram runs s on the program behind c within timeout (none if not
// positive), with the errors of compute.Instance's Call: ErrTimeout past
// it (the agent is told to cancel), ErrExited once the program (w) or its
// isolation (done) has exited.
func CallProgram(ctx context.Context, c *Client, w *Watch, done <-chan struct{}, s *compute.Scope, timeout time.Duration) (*compute.Response, error) {
	if gone(c, w, done, 0) {
		return nil, compute.ErrExited
	}
	cctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	resp, err := c.Call(cctx, s)
	switch {
	case err == nil:
		if resp.Status == 503 && strings.Contains(string(resp.Body), ExitedAnswer) {
			return nil, compute.ErrExited
		}
		return resp, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case cctx.Err() != nil:
		return nil, compute.ErrTimeout
	case gone(c, w, done, exitGrace):
		// The program died under the request (out of memory, crash).
		return nil, fmt.Errorf("%w: %v", compute.ErrExited, err)
	}
	return nil, err
}

// gone tells whether the program, the stream or the isolation has ended,
// waiting up to wait for it.
func gone(c *Client, w *Watch, done <-chan struct{}, wait time.Duration) bool {
	select {
	case <-w.exited:
		return true
	case <-done:
		return true
	case <-c.Done():
		return true
	default:
	}
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.exited:
	case <-done:
	case <-c.Done():
	case <-t.C:
		return false
	}
	return true
}
