package httplimit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// serve runs c's server over h on a loopback port and returns its address.
func serve(t *testing.T, c Config, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := c.Server(h, nil)
	go c.Serve(srv, ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// echoLen answers the length of the body it read, or 400 with the error.
var echoLen = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprint(w, n)
})

// waitClosed reads conn until it is closed and returns how long that took.
func waitClosed(t *testing.T, conn net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	conn.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", within)
	}
	return time.Since(start)
}

// fastGet checks that a fresh client is answered in under 50 ms.
func fastGet(t *testing.T, addr string) {
	t.Helper()
	start := time.Now()
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); d > 50*time.Millisecond*raceFactor {
		t.Errorf("another client waited %v", d)
	}
}

func TestSlowBodyClosed(t *testing.T) {
	c := Config{MinBodyRate: 1000, BodyRateWindow: 500 * time.Millisecond}
	addr := serve(t, c, echoLen)
	var conns []net.Conn
	for range 20 {
		conn := dial(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nab")
		conns = append(conns, conn)
	}
	// One byte now and then: far under 1000 bytes/s.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, c := range conns {
					c.Write([]byte("x"))
				}
			}
		}
	})
	fastGet(t, addr)
	for _, conn := range conns {
		waitClosed(t, conn, 10*time.Second)
	}
	close(stop)
	wg.Wait()
	fastGet(t, addr)
}

func TestStalledBodyClosed(t *testing.T) {
	addr := serve(t, Config{BodyRateWindow: 300 * time.Millisecond}, echoLen)
	conn := dial(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
	if d := waitClosed(t, conn, 10*time.Second); d < 250*time.Millisecond {
		t.Errorf("closed after %v, before the window", d)
	}
}

func TestSteadyUploadPasses(t *testing.T) {
	// 8 MB at about 4 MB/s (40 KB every 10 ms) over several windows of
	// 500 ms, with a minimum of 64 KiB/s: a window fails only if the
	// sender stalls for a whole window (100 ms windows at 1 MB/s failed
	// on two loaded cores).
	addr := serve(t, Config{MinBodyRate: 64 << 10, BodyRateWindow: 500 * time.Millisecond}, echoLen)
	const size = 8 << 20
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("a"), 40<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			pw.Write(chunk)
			time.Sleep(10 * time.Millisecond) // pacing the sender, not waiting for a result
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", pr)
	req.ContentLength = size + (40<<10-size%(40<<10))%(40<<10)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != fmt.Sprint(req.ContentLength) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestIdleKeepAliveClosed(t *testing.T) {
	addr := serve(t, Config{IdleTimeout: 300 * time.Millisecond}, echoLen)
	var conns []net.Conn
	for range 50 {
		conn := dial(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		conns = append(conns, conn)
	}
	fastGet(t, addr)
	for _, conn := range conns {
		waitClosed(t, conn, 10*time.Second)
	}
}

func TestBodySlotsFull(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.Copy(io.Discard, r.Body)
	})
	addr := serve(t, Config{MaxBodies: 2}, h)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader("body"))
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	<-entered
	<-entered
	resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third body: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Requests without a body are not counted.
	go func() { entered <- struct{}{} }()
	<-entered
	close(release)
	wg.Wait()
	resp, err = http.Post("http://"+addr+"/", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after the slots freed: %d", resp.StatusCode)
	}
}

func TestWriteTimeoutSparesUpgrades(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		buf.Flush()
		// Write past the write timeout.
		for i := range 6 {
			time.Sleep(100 * time.Millisecond) // spacing frames past the deadline
			if _, err := fmt.Fprintf(conn, "frame %d\n", i); err != nil {
				return
			}
		}
	})
	addr := serve(t, Config{WriteTimeout: 200 * time.Millisecond}, h)
	conn := dial(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(conn)
	if !strings.Contains(string(b), "frame 5") {
		t.Errorf("upgraded stream cut: %q", b)
	}
}

func TestWriteTimeout(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; ; i++ {
			if _, err := w.Write(bytes.Repeat([]byte("x"), 64<<10)); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
		}
	})
	addr := serve(t, Config{WriteTimeout: 200 * time.Millisecond}, h)
	conn := dial(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	// The client never reads: the server's writes block, then time out.
	time.Sleep(50 * time.Millisecond) // let the buffers fill
	waitClosed(t, conn, 10*time.Second)
}

func TestMaxConnsPerIP(t *testing.T) {
	addr := serve(t, Config{MaxConnsPerIP: 3, IdleTimeout: time.Minute}, echoLen)
	var conns []net.Conn
	for range 3 {
		conn := dial(t, addr, "")
		conns = append(conns, conn)
	}
	// Make sure the three were accepted.
	for _, conn := range conns {
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	extra := dial(t, addr, "")
	waitClosed(t, extra, 10*time.Second)
	conns[0].Close()
	// The slot comes back once the server sees the close.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slot not released after a close")
		}
	}
}

// A handler that refuses a large body without reading it answers at once.
func TestUnreadBodyAnsweredAtOnce(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})
	addr := serve(t, Config{}, h)
	for _, size := range []int{300 << 10, 10 << 20} {
		conn := dial(t, addr, "")
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("body of %d unread: %v", size, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d", resp.StatusCode)
		}
	}
}

// A slow body refused because the slots are full gets its 503 and its
// connection closed at once: the server must not wait to drain it.
func TestRefusedSlowBodyClosed(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.Copy(io.Discard, r.Body)
	})
	addr := serve(t, Config{MaxBodies: 1}, h)
	defer close(release)
	go func() {
		resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader("body"))
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	// A body of 100,000 bytes that never comes: only its first byte.
	conn := dial(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if d := waitClosed(t, &bufConn{conn, br}, 5*time.Second); d > 2*time.Second {
		t.Errorf("closed after %v", d)
	}
}

// bufConn reads through br (which may hold bytes read past a response).
type bufConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.br.Read(p) }

// dial opens a connection to addr, closed when the test ends, and writes
// request on it unless it is empty.
func dial(t *testing.T, addr, request string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if request != "" {
		if _, err := io.WriteString(conn, request); err != nil {
			t.Fatal(err)
		}
	}
	return conn
}
