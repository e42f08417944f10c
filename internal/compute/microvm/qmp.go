package microvm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// qmp is a QEMU Machine Protocol connection: one command at a time, events
// skipped.
type qmp struct {
	c net.Conn
	r *bufio.Reader
}

// dialQMP connects to QEMU's QMP socket, retrying while QEMU starts, and
// negotiates capabilities.
func dialQMP(ctx context.Context, path string, exited <-chan struct{}) (*qmp, error) {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "unix", path)
		if err == nil {
			q := &qmp{c: c, r: bufio.NewReader(c)}
			if _, err := q.r.ReadBytes('\n'); err != nil { // the greeting
				c.Close()
				return nil, fmt.Errorf("microvm: QMP greeting: %w", err)
			}
			if _, err := q.do(ctx, "qmp_capabilities", nil); err != nil {
				c.Close()
				return nil, err
			}
			return q, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("microvm: QMP: %w", err)
		case <-exited:
			return nil, errors.New("microvm: QEMU exited")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// do runs one command and returns its "return".
func (q *qmp) do(ctx context.Context, cmd string, args any) (json.RawMessage, error) {
	if dl, ok := ctx.Deadline(); ok {
		q.c.SetDeadline(dl)
		defer q.c.SetDeadline(time.Time{})
	}
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	if _, err := q.c.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("microvm: QMP %s: %w", cmd, err)
	}
	for {
		line, err := q.r.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("microvm: QMP %s: %w", cmd, err)
		}
		var a struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
			Event string `json:"event"`
		}
		if err := json.Unmarshal(line, &a); err != nil {
			return nil, fmt.Errorf("microvm: QMP %s: %w", cmd, err)
		}
		switch {
		case a.Event != "":
			continue
		case a.Error != nil:
			return nil, fmt.Errorf("microvm: QMP %s: %s: %s", cmd, a.Error.Class, a.Error.Desc)
		default:
			return a.Return, nil
		}
	}
}

// ignoreShared turns the x-ignore-shared migration capability on: RAM in
// a shared file backend is not migrated (it stays in the file).
func (q *qmp) ignoreShared(ctx context.Context) error {
	_, err := q.do(ctx, "migrate-set-capabilities", map[string]any{
		"capabilities": []map[string]any{{"capability": "x-ignore-shared", "state": true}},
	})
	return err
}

// waitMigration polls until the migration (outgoing) has completed.
func (q *qmp) waitMigration(ctx context.Context) error {
	for {
		r, err := q.do(ctx, "query-migrate", nil)
		if err != nil {
			return err
		}
		var st struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		json.Unmarshal(r, &st)
		switch st.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("microvm: migration %s: %s", st.Status, st.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// waitStatus polls until the VM's run state is one of want.
func (q *qmp) waitStatus(ctx context.Context, want ...string) (string, error) {
	for {
		r, err := q.do(ctx, "query-status", nil)
		if err != nil {
			return "", err
		}
		var st struct {
			Status string `json:"status"`
		}
		json.Unmarshal(r, &st)
		for _, w := range want {
			if st.Status == w {
				return w, nil
			}
		}
		select {
		case <-ctx.Done():
			return st.Status, ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 100*time.Millisecond {
			return st.Status, context.DeadlineExceeded
		}
	}
}

func (q *qmp) close() { q.c.Close() }
