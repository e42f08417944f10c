package guest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrClosed is the error of a call on a stream that was closed or broke;
// the cause, if any, is wrapped with it.
var ErrClosed = errors.New("guest stream closed")

// outgoing is a frame waiting for the writer; done, if set, receives the
// write's outcome.
type outgoing struct {
	b    []byte
	done chan error
}

// stream moves frames over one byte stream for either side: a writer
// goroutine owns writes, so a sender blocked on a stalled peer can give up
// with its context; the owner runs the read loop itself.
type stream struct {
	rw  io.ReadWriteCloser
	br  *bufio.Reader
	max int

	out chan outgoing
	// logs is drained before each frame of out, so that lines written
	// before an answer reach the host before it (guest side only).
	logs chan []byte

	closed    chan struct{}
	closeOnce sync.Once
	err       error // set before closed is closed
	wg        sync.WaitGroup
}

func newStream(rw io.ReadWriteCloser, max, logQueue int) *stream {
	s := &stream{
		rw:     rw,
		br:     bufio.NewReaderSize(rw, 64<<10),
		max:    max,
		out:    make(chan outgoing),
		closed: make(chan struct{}),
	}
	if logQueue > 0 {
		s.logs = make(chan []byte, logQueue)
	}
	s.wg.Add(1)
	go s.writeLoop()
	return s
}

// fail closes the stream with cause err (nil for a deliberate close).
func (s *stream) fail(err error) {
	s.closeOnce.Do(func() {
		if err == nil {
			s.err = ErrClosed
		} else {
			s.err = fmt.Errorf("%w: %w", ErrClosed, err)
		}
		close(s.closed)
		s.rw.Close()
	})
}

// close closes the stream and waits for the writer.
func (s *stream) close() {
	s.fail(nil)
	s.wg.Wait()
}

func (s *stream) write(b []byte) bool {
	if _, err := s.rw.Write(b); err != nil {
		s.fail(err)
		return false
	}
	return true
}

func (s *stream) writeLoop() {
	defer s.wg.Done()
	for {
		select {
		case o := <-s.out:
			ok := s.drainLogs() && s.write(o.b)
			if o.done != nil {
				if ok {
					o.done <- nil
				} else {
					o.done <- s.err
				}
			}
			if !ok {
				return
			}
		case b := <-s.logs: // nil channel on the host side
			if !s.write(b) {
				return
			}
		case <-s.closed:
			return
		}
	}
}

func (s *stream) drainLogs() bool {
	for {
		select {
		case b := <-s.logs:
			if !s.write(b) {
				return false
			}
		default:
			return true
		}
	}
}

// send hands m to the writer. With wait it also waits until m is written.
func (s *stream) send(ctx context.Context, m *Message, wait bool) error {
	b, err := AppendFrame(nil, m, s.max)
	if err != nil {
		return err
	}
	o := outgoing{b: b}
	if wait {
		o.done = make(chan error, 1)
	}
	select {
	case s.out <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return s.err
	}
	if !wait {
		return nil
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// queueLog queues a log frame without blocking; false if the queue is full.
func (s *stream) queueLog(m *Message) bool {
	b, err := AppendFrame(nil, m, s.max)
	if err != nil {
		return false
	}
	select {
	case s.logs <- b:
		return true
	default:
		return false
	}
}

// read reads the next message; on error the stream is closed.
func (s *stream) read() (*Message, error) {
	m, err := ReadMessage(s.br, s.max)
	if err != nil {
		s.fail(err)
		return nil, s.err
	}
	return m, nil
}
