package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// recordConn is a net.Conn that keeps what is written to it.
type recordConn struct {
	net.Conn
	got bytes.Buffer
}

func (c *recordConn) Write(p []byte) (int, error) { return c.got.Write(p) }

// TestFrameWriterHoldsOnlyAFullBuffer drives frameWriter through a small
// bufio.Writer the way the websocket library does (header, payload,
// flush) for frames of every size up to three buffers: a frame reaches
// the connection whole at its flush, except one of exactly wsConnBuffer
// bytes, which waits for flush (or the next frame, which it precedes).
func TestFrameWriterHoldsOnlyAFullBuffer(t *testing.T) {
	rc := &recordConn{}
	fw := &frameWriter{conn: rc}
	bw := bufio.NewWriterSize(fw, wsConnBuffer)
	var want bytes.Buffer
	for _, hdr := range []int{2, 4, 10} {
		for n := hdr; n <= 3*wsConnBuffer+3; n++ {
			frame := make([]byte, n)
			rand.Read(frame)
			want.Write(frame)
			bw.Write(frame[:hdr])
			bw.Write(frame[hdr:])
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			if n == wsConnBuffer {
				if !bytes.Equal(rc.got.Bytes(), want.Bytes()[:want.Len()-n]) {
					t.Fatalf("header %d, frame of %d bytes: the connection got %d bytes, want all but the held frame (%d)",
						hdr, n, rc.got.Len(), want.Len()-n)
				}
				if hdr != 4 {
					// The next frame sends it first.
					continue
				}
				if err := fw.flush(); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(rc.got.Bytes(), want.Bytes()) {
				t.Fatalf("header %d, frame of %d bytes: the connection got %d bytes, want %d (or different ones)",
					hdr, n, rc.got.Len(), want.Len())
			}
		}
	}
	// A flush with nothing held writes nothing.
	before := rc.got.Len()
	if err := fw.flush(); err != nil || rc.got.Len() != before {
		t.Fatalf("empty flush: %v, %d bytes written", err, rc.got.Len()-before)
	}
}

// smallBufServer serves a websocket through smallBufConn: it sends a text
// message of every size in sizes (flushing after each, as the sender
// does), while reading (and answering pings) as wsMessages does.
func smallBufServer(t *testing.T, sizes []int) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &smallBufConn{ResponseWriter: w}
		c, err := websocket.Accept(sw, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				_, m, err := c.Reader(context.Background())
				if err == nil {
					_, err = io.Copy(io.Discard, m)
				}
				if err != nil {
					return
				}
			}
		}()
		for _, n := range sizes {
			if err := c.Write(r.Context(), websocket.MessageText, payload(n)); err != nil {
				return
			}
			if err := sw.out.flush(); err != nil {
				return
			}
		}
		<-done // until the client leaves
	}))
	t.Cleanup(ts.Close)
	return ts
}

// payload is n bytes that tell where they come from.
func payload(n int) []byte {
	return []byte(strings.Repeat(fmt.Sprintf("%08d", n), n/8+1)[:n])
}

// TestSmallBufConnFrames: frames of every size around the buffer's, and
// much larger, reach a client intact and in order, and the client's
// pings (any payload length) are answered meanwhile.
func TestSmallBufConnFrames(t *testing.T) {
	var sizes []int
	for n := 0; n <= 3*wsConnBuffer; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 65535, 65536, 1<<20)
	ts := smallBufServer(t, sizes)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(2 << 20)
	for i, n := range sizes {
		typ, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("frame %d (%d bytes): %v", i, n, err)
		}
		if typ != websocket.MessageText || !bytes.Equal(b, payload(n)) {
			t.Fatalf("frame %d: %v of %d bytes, want text %.40q… (%d bytes)", i, typ, len(b), payload(n), n)
		}
	}
	// Pings need the client to read, for the pongs.
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	for range 3 {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.Ping(pctx)
		pcancel()
		if err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
}

// TestSmallBufConnKeepsEarlyBytes: what a client sends in the same
// packet as its handshake (here a 300-byte text frame, then a ping) is
// read after the hijack: the ping is answered.
func TestSmallBufConnKeepsEarlyBytes(t *testing.T) {
	ts := smallBufServer(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	key := make([]byte, 16)
	rand.Read(key)
	var out bytes.Buffer
	fmt.Fprintf(&out, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", base64.StdEncoding.EncodeToString(key))
	clientFrame(&out, 0x1, bytes.Repeat([]byte("x"), 300))
	clientFrame(&out, 0x9, []byte("early ping"))
	if _, err := conn.Write(out.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", res.StatusCode)
	}
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, h[1]&0x7f)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	if h[0] != 0x8a || string(p) != "early ping" {
		t.Fatalf("got frame %#x %q, want a pong (0x8a) with %q", h[0], p, "early ping")
	}
}

// clientFrame appends a masked, final frame, as a client sends it.
func clientFrame(b *bytes.Buffer, opcode byte, p []byte) {
	b.WriteByte(0x80 | opcode)
	switch {
	case len(p) < 126:
		b.WriteByte(0x80 | byte(len(p)))
	default:
		b.WriteByte(0x80 | 126)
		binary.Write(b, binary.BigEndian, uint16(len(p)))
	}
	mask := [4]byte{1, 2, 3, 4}
	b.Write(mask[:])
	for i, c := range p {
		b.WriteByte(c ^ mask[i%4])
	}
}
