package guest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
)

// Handler is the guest's program: what the server calls for each message
// from the host.
type Handler interface {
	// Configure starts the program. It is called once, before any Call.
	Configure(ctx context.Context, cfg *Config) error
	// Call answers one request; calls run concurrently. ctx ends when the
	// host abandons the request or the server stops. An error is sent as
	// the response's "error" (and "traceback" if it is a *ProgramError).
	Call(ctx context.Context, s *compute.Scope) (*compute.Response, error)
	// Halt stops the program. The server acknowledges once it returns.
	Halt(ctx context.Context) error
}

// Server is the guest's end of the protocol.
type Server struct {
	s       *stream
	dropped atomic.Int64
}

// maxInflight bounds the requests handled at once; the server stops
// reading the stream while that many are running.
const maxInflight = 256

// NewServer starts the guest's end on conn, a stream to the host. The server
// owns conn.
func NewServer(conn io.ReadWriteCloser, opts ...Option) *Server {
	o := buildOptions(opts)
	return &Server{s: newStream(conn, o.maxFrame, o.logQueue)}
}

// Log pushes one line the program wrote to the host. It never blocks: a
// line that finds the queue full is dropped and counted, and the count is
// reported in a later line.
func (srv *Server) Log(stream, text string) {
	if n := srv.dropped.Load(); n > 0 {
		m := &Message{Kind: KindLog, Log: &compute.LogLine{
			Time: time.Now(), Stream: "stderr",
			Text: fmt.Sprintf("[aleph-guest] %d log lines dropped", n),
		}}
		if !srv.s.queueLog(m) {
			srv.dropped.Add(1)
			return
		}
		srv.dropped.Add(-n)
	}
	m := &Message{Kind: KindLog, Log: &compute.LogLine{Time: time.Now(), Stream: stream, Text: text}}
	if !srv.s.queueLog(m) {
		srv.dropped.Add(1)
	}
}

// Run sends the hello and serves the host until it halts the guest (nil
// after the acknowledgement is written), the stream breaks, or ctx ends.
// Requests still running when Run returns are cancelled and waited for.
func (srv *Server) Run(ctx context.Context, h Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		srv.s.close()
	}()
	go func() {
		// Unblocks the read below when ctx ends.
		select {
		case <-ctx.Done():
			srv.s.fail(ctx.Err())
		case <-srv.s.closed:
		}
	}()
	if err := srv.s.send(ctx, &Message{Kind: KindHello, Version: Version}, false); err != nil {
		return err
	}

	var (
		mu         sync.Mutex
		configured = make(chan struct{}) // closed after a successful Configure
		configSeen bool
		inflight   = map[uint64]context.CancelFunc{}
		slots      = make(chan struct{}, maxInflight)
		halted     = make(chan error, 1)
	)
	isConfigured := func() bool {
		select {
		case <-configured:
			return true
		default:
			return false
		}
	}
	reply := func(m *Message) {
		// Fails only when the stream is gone, which ends Run anyway.
		srv.s.send(ctx, m, false)
	}
	for {
		m, err := srv.s.read()
		if err != nil {
			select {
			case err := <-halted:
				return err
			default:
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		switch m.Kind {
		case KindConfig:
			mu.Lock()
			again := configSeen
			configSeen = true
			mu.Unlock()
			if again {
				reply(&Message{ID: m.ID, Kind: KindConfigResult, Error: "already configured"})
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := h.Configure(ctx, m.Config)
				a := &Message{ID: m.ID, Kind: KindConfigResult, Success: err == nil}
				if err != nil {
					setFailure(a, err)
				} else {
					close(configured)
				}
				reply(a)
			}()
		case KindRequest:
			if !isConfigured() {
				reply(&Message{ID: m.ID, Kind: KindResponse, Error: "program not configured"})
				continue
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			rctx, rcancel := context.WithCancel(ctx)
			mu.Lock()
			inflight[m.ID] = rcancel
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				resp, err := h.Call(rctx, m.Scope)
				mu.Lock()
				delete(inflight, m.ID)
				mu.Unlock()
				rcancel()
				a := &Message{ID: m.ID, Kind: KindResponse, Response: resp}
				if err != nil || resp == nil {
					a.Response = nil
					setFailure(a, err)
				}
				if a.Response != nil {
					// A response too large for a frame becomes an error.
					if _, err := AppendFrame(nil, a, srv.s.max); err != nil {
						a = &Message{ID: m.ID, Kind: KindResponse, Error: err.Error()}
					}
				}
				reply(a)
			}()
		case KindCancel:
			mu.Lock()
			if c := inflight[m.ID]; c != nil {
				c()
			}
			mu.Unlock()
		case KindHalt:
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := h.Halt(ctx)
				ack := &Message{ID: m.ID, Kind: KindHaltAck}
				if werr := srv.s.send(ctx, ack, true); werr != nil && err == nil {
					err = werr
				}
				halted <- err
				// Ends the read loop: the host has its ack.
				srv.s.fail(nil)
			}()
		}
	}
}

func setFailure(m *Message, err error) {
	if err == nil {
		err = errors.New("no response")
	}
	var pe *ProgramError
	if errors.As(err, &pe) {
		m.Error, m.Traceback = pe.Message, pe.Traceback
		return
	}
	m.Error = err.Error()
}
