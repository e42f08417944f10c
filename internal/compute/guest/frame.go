package guest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrameSize is the default bound on one frame's content: a 10 MB
// request or response body (the reference's limit) plus headers and room.
const MaxFrameSize = 16 << 20

// headerSize is the frame header: the content's length, big-endian uint32.
const headerSize = 4

// Frame errors.
var (
	// ErrFrameTooLarge is a frame above the size bound, on either side.
	ErrFrameTooLarge = errors.New("guest frame too large")
	// ErrEmptyFrame is a frame of length 0, which no message encodes to.
	ErrEmptyFrame = errors.New("guest frame empty")
)

// ReadFrame reads one frame's content from r, refusing a frame longer than
// max before reading it. It allocates as the content arrives, so a peer that
// announces a large frame and sends less costs no more than what it sent.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n == 0 {
		return nil, ErrEmptyFrame
	}
	if uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	const chunk = 64 << 10
	if n <= chunk {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, unexpected(err)
		}
		return b, nil
	}
	var buf bytes.Buffer
	buf.Grow(chunk)
	if _, err := io.CopyN(&buf, r, int64(n)); err != nil {
		return nil, unexpected(err)
	}
	return buf.Bytes(), nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendFrame appends m as one frame to b, or returns ErrFrameTooLarge if
// its content is longer than max.
func AppendFrame(b []byte, m *Message, max int) ([]byte, error) {
	start := len(b)
	buf := bytes.NewBuffer(append(b, 0, 0, 0, 0))
	if err := encodeMessage(buf, m); err != nil {
		return b, err
	}
	out := buf.Bytes()
	n := len(out) - start - headerSize
	if n > max {
		return b, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrFrameTooLarge, m, n, max)
	}
	binary.BigEndian.PutUint32(out[start:], uint32(n))
	return out, nil
}

// ReadMessage reads and decodes one frame.
func ReadMessage(r io.Reader, max int) (*Message, error) {
	b, err := ReadFrame(r, max)
	if err != nil {
		return nil, err
	}
	return DecodeMessage(b)
}
