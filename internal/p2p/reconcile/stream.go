package reconcile

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Sync runs a session as the initiator over a stream, typically a libp2p
// stream opened to a peer that runs [Serve] on it. Each message is framed
// as a uvarint length and the payload. Sync returns when the session ends;
// it leaves rw open, so the stream may carry more afterwards.
//
// If rw has a SetDeadline method (net.Conn, libp2p streams), the deadline of
// ctx applies to it and cancelling ctx interrupts a blocked read or write;
// otherwise cancellation is only noticed between messages.
func Sync(ctx context.Context, rw io.ReadWriter, st Storage, opts ...Option) (Result, error) {
	s := NewSession(st, opts...)
	out, err := s.Initiate()
	if err != nil {
		return s.Result(), err
	}
	return run(ctx, rw, s, out)
}

// Serve runs a session as the responder over a stream opened by a peer
// running [Sync]. Both sides learn the difference.
func Serve(ctx context.Context, rw io.ReadWriter, st Storage, opts ...Option) (Result, error) {
	return run(ctx, rw, NewSession(st, opts...), nil)
}

func run(ctx context.Context, rw io.ReadWriter, s *Session, out []byte) (Result, error) {
	if d, ok := rw.(interface{ SetDeadline(time.Time) error }); ok {
		if dl, ok := ctx.Deadline(); ok {
			d.SetDeadline(dl)
		}
		stop := context.AfterFunc(ctx, func() { d.SetDeadline(time.Unix(1, 0)) })
		defer func() {
			if stop() {
				d.SetDeadline(time.Time{})
			}
		}()
	}
	wrap := func(err error) (Result, error) {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return s.Result(), err
	}
	buf := make([]byte, 0, 4096)
	for {
		if err := ctx.Err(); err != nil {
			return s.Result(), err
		}
		if out != nil {
			if err := writeFrame(rw, out); err != nil {
				return wrap(fmt.Errorf("reconcile: write: %w", err))
			}
		}
		if s.Done() {
			return s.Result(), s.Err()
		}
		in, err := readFrame(rw, buf, s.cfg.maxFrame)
		if err != nil {
			return wrap(err)
		}
		buf = in[:0]
		out, err = s.Step(in)
		if err != nil {
			if out != nil {
				writeFrame(rw, out) // the version this side speaks
			}
			return s.Result(), err
		}
	}
}

func writeFrame(w io.Writer, msg []byte) error {
	frame := make([]byte, 0, binary.MaxVarintLen32+len(msg))
	frame = binary.AppendUvarint(frame, uint64(len(msg)))
	frame = append(frame, msg...)
	_, err := w.Write(frame)
	return err
}

// readFrame reads one frame into buf, refusing lengths over max before
// allocating. The length is read byte by byte so that nothing after the
// frame is consumed from r.
func readFrame(r io.Reader, buf []byte, max int) ([]byte, error) {
	var (
		n     uint64
		shift uint
		b     [1]byte
	)
	for i := 0; ; i++ {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("reconcile: read: %w", err)
		}
		if i == binary.MaxVarintLen32 {
			return nil, fmt.Errorf("%w: frame length", ErrMalformed)
		}
		n |= uint64(b[0]&0x7f) << shift
		if b[0] < 0x80 {
			break
		}
		shift += 7
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reconcile: read: %w", err)
	}
	return buf, nil
}
