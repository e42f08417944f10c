package httplimit

import (
	"net"
	"sync"
)

// Listener returns ln with the per-address connection cap of c: a
// connection over the cap is closed as soon as it is accepted. With no
// cap it returns ln.
func (c Config) Listener(ln net.Listener) net.Listener {
	c = c.withDefaults()
	if c.MaxConnsPerIP <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, max: c.MaxConnsPerIP, open: map[string]int{}}
}

type limitListener struct {
	net.Listener
	max  int
	mu   sync.Mutex
	open map[string]int // connections per remote IP
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(conn)
		l.mu.Lock()
		if l.open[ip] >= l.max {
			l.mu.Unlock()
			conn.Close()
			continue
		}
		l.open[ip]++
		l.mu.Unlock()
		return &countedConn{Conn: conn, release: func() { l.release(ip) }}, nil
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

func remoteIP(c net.Conn) string {
	a := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(a); err == nil {
		return host
	}
	return a
}

// countedConn gives its slot back once, on its first Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
