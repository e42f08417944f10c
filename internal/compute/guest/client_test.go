package guest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
)

// echo is a Handler that answers each request with its body and path;
// "/block" waits for the request's context, "/fail" fails.
type echo struct {
	srv       *Server
	cancelled chan string
	halted    chan struct{}
	configErr error
}

func (e *echo) Configure(ctx context.Context, cfg *Config) error {
	if e.configErr != nil {
		return e.configErr
	}
	e.srv.Log("stdout", "configured "+cfg.VMHash)
	return nil
}

func (e *echo) Call(ctx context.Context, s *compute.Scope) (*compute.Response, error) {
	switch s.Path {
	case "/block":
		<-ctx.Done()
		e.cancelled <- s.QueryString
		return nil, ctx.Err()
	case "/fail":
		return nil, &ProgramError{Message: "ValueError", Traceback: "Traceback: boom"}
	case "/big":
		return &compute.Response{Status: 200, Body: make([]byte, 2*MaxFrameSize)}, nil
	}
	e.srv.Log("stderr", "request "+s.Path)
	return &compute.Response{
		Status:  200,
		Headers: [][2]string{{"x-path", s.Path}},
		Body:    s.Body,
	}, nil
}

func (e *echo) Halt(ctx context.Context) error {
	close(e.halted)
	return nil
}

type pair struct {
	client *Client
	h      *echo
	logs   chan compute.LogLine
	runErr chan error
}

// start connects a client and a server over a Unix socket.
func start(t *testing.T, h *echo) *pair {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, "g.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	gconn, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	hconn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{h: h, logs: make(chan compute.LogLine, 100), runErr: make(chan error, 1)}
	h.srv = NewServer(gconn)
	if h.cancelled == nil {
		h.cancelled = make(chan string, 10)
	}
	h.halted = make(chan struct{})
	go func() { p.runErr <- h.srv.Run(context.Background(), h) }()
	p.client = Dial(hconn, WithLogs(func(l compute.LogLine) {
		select {
		case p.logs <- l:
		default:
		}
	}))
	t.Cleanup(func() {
		p.client.Close()
		select {
		case <-p.runErr:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return p
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientServer(t *testing.T) {
	p := start(t, &echo{})
	ctx := ctxT(t)
	c := p.client
	v, err := c.Ready(ctx)
	if err != nil || v != Version {
		t.Fatalf("ready: %q %v", v, err)
	}
	if _, err := c.Call(ctx, &compute.Scope{Type: "http", Path: "/early"}); err == nil {
		t.Fatal("call before config answered")
	}
	if err := c.Configure(ctx, &Config{Interface: compute.Executable, VMHash: "h1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-p.logs:
		if l.Text != "configured h1" || l.Stream != "stdout" {
			t.Fatalf("log %+v", l)
		}
	case <-ctx.Done():
		t.Fatal("no log line")
	}
	if err := c.Configure(ctx, &Config{}); err == nil {
		t.Fatal("second config accepted")
	}

	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Go(func() {
			body := []byte("body " + strconv.Itoa(i))
			r, err := c.Call(ctx, &compute.Scope{Type: "http", Method: "POST", Path: fmt.Sprintf("/p%d", i), Body: body})
			if err != nil {
				t.Error(err)
				return
			}
			if r.Status != 200 || string(r.Body) != string(body) || r.Headers[0][1] != fmt.Sprintf("/p%d", i) {
				t.Errorf("call %d: %+v", i, r)
			}
		})
	}
	wg.Wait()

	_, err = c.Call(ctx, &compute.Scope{Type: "http", Path: "/fail"})
	var pe *ProgramError
	if !errors.As(err, &pe) || pe.Traceback != "Traceback: boom" || pe.Response().Status != 500 {
		t.Fatalf("failing call: %v", err)
	}
	_, err = c.Call(ctx, &compute.Scope{Type: "http", Path: "/big"})
	if !errors.As(err, &pe) {
		t.Fatalf("oversized response: %v", err)
	}

	// Abandoning one call leaves the stream usable, and the guest hears of it.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = c.Call(cctx, &compute.Scope{Type: "http", Path: "/block", QueryString: "q1"})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("abandoned call: %v", err)
	}
	select {
	case q := <-p.h.cancelled:
		if q != "q1" {
			t.Fatalf("cancelled %q", q)
		}
	case <-ctx.Done():
		t.Fatal("guest never saw the cancel")
	}
	if r, err := c.Call(ctx, &compute.Scope{Type: "http", Path: "/after"}); err != nil || r.Status != 200 {
		t.Fatalf("call after a cancel: %v", err)
	}

	// A call blocked at halt gets an answer or ErrClosed, never hangs.
	blocked := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, &compute.Scope{Type: "http", Path: "/block", QueryString: "q2"})
		blocked <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := c.Halt(ctx); err != nil {
		t.Fatal(err)
	}
	<-p.h.halted
	select {
	case err := <-p.runErr:
		p.runErr <- err
		if err != nil {
			t.Fatalf("server run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("server still running after halt")
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("stream still open after halt")
	}
	if err := <-blocked; err == nil {
		t.Fatal("blocked call succeeded")
	}
	if _, err := c.Call(ctx, &compute.Scope{Type: "http"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after halt: %v", err)
	}
}

func TestConfigureFailure(t *testing.T) {
	p := start(t, &echo{configErr: &ProgramError{Message: "no entrypoint", Traceback: "tb"}})
	err := p.client.Configure(ctxT(t), &Config{})
	var pe *ProgramError
	if !errors.As(err, &pe) || pe.Message != "no entrypoint" || pe.Traceback != "tb" {
		t.Fatalf("configure: %v", err)
	}
}

func TestGuestGone(t *testing.T) {
	p := start(t, &echo{})
	ctx := ctxT(t)
	if err := p.client.Configure(ctx, &Config{}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := p.client.Call(ctx, &compute.Scope{Type: "http", Path: "/block"})
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	p.h.srv.s.close() // the guest dies
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("call to a dead guest: %v", err)
	}
	<-p.client.Done()
	if !errors.Is(p.client.Err(), ErrClosed) {
		t.Fatalf("err %v", p.client.Err())
	}
}
