package api

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
)

// wsConnBuffer is the size of the read and the write buffer an open
// websocket keeps. The library keeps, for the connection's life, the
// bufio reader and writer that the hijack hands it; net/http's are 4 KiB
// each, 16 MiB for a crowd of 2,000 sockets and most of their heap. A
// feed socket reads only control frames (at most 131 bytes from a
// client) and writes frames in one go, so small buffers cost it at most
// a read or two more per control frame. 128 bytes is more than a whole
// control frame the server writes (at most 127 bytes), which
// frameWriter relies on.
const wsConnBuffer = 128

// smallBufConn is the ResponseWriter the websocket handshake sees: its
// Hijack hands the library small buffers (wsConnBuffer) in place of
// net/http's, which become garbage at once.
type smallBufConn struct {
	http.ResponseWriter
	out *frameWriter // set by Hijack
}

func (w *smallBufConn) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *smallBufConn) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// net/http has written the 101 answer; flush anything left anyway.
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(conn, wsConnBuffer)
	if n := brw.Reader.Buffered(); n > 0 {
		// What the client sent right after its handshake stays first, in
		// the new reader's buffer (which the library reads first too).
		b, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn), max(n, wsConnBuffer))
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	w.out = &frameWriter{conn: conn}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.out, wsConnBuffer)), nil
}

// frameWriter is what the small bufio.Writer of a websocket writes to,
// so that a frame still leaves in one write. The library writes a
// frame's header and payload to the bufio.Writer and flushes it at the
// frame's end, so a frame longer than the buffer arrives here as a full
// buffer (exactly wsConnBuffer bytes: the header and the payload's
// start) and then the rest. The full buffer is held and sent with the
// rest in one writev (net.Buffers on a TCP connection).
//
// A frame of exactly wsConnBuffer bytes would have no rest. A server's
// frame is never 128 bytes long (a 2-byte header carries at most 125
// bytes, a 4-byte one at least 126), so that cannot happen; the sender
// calls flush after each data frame all the same, which keeps this
// correct for any buffer size. The frames the library writes by itself
// (pongs, closes) are control frames, at most 127 bytes, never held.
// Held bytes are always the next ones due on the wire: sending them
// early splits a write, never reorders one.
type frameWriter struct {
	conn net.Conn

	mu   sync.Mutex
	held int
	buf  [wsConnBuffer]byte
	vec  [2][]byte
	v    net.Buffers // over vec: a field, so that a writev allocates nothing
}

func (f *frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.held == 0 && len(p) == len(f.buf):
		f.held = copy(f.buf[:], p)
		return len(p), nil
	case f.held == 0:
		return f.conn.Write(p)
	}
	held := f.held
	f.held = 0
	f.vec = [2][]byte{f.buf[:held], p}
	f.v = f.vec[:]
	n, err := f.v.WriteTo(f.conn)
	f.vec, f.v = [2][]byte{}, nil // keep no frame alive
	return max(0, int(n)-held), err
}

// flush sends what is held, if anything.
func (f *frameWriter) flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held == 0 {
		return nil
	}
	_, err := f.conn.Write(f.buf[:f.held])
	f.held = 0
	return err
}
