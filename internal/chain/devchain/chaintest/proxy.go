package chaintest

import (
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of a chain's RPC endpoint, to
// produce outages for real: Cut makes it drop every connection (as a dead
// endpoint), Stall makes it take requests and never answer (as a hung one,
// kept-alive connections included), Forward forwards again. Cut and
// Forward close the connections open through it, so no connection
// outlives an outage.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	mode    ProxyMode
	changed chan struct{} // closed when the mode changes
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// ProxyMode is what a Proxy does with connections.
type ProxyMode int

// Proxy modes.
const (
	Forward ProxyMode = iota // pass bytes both ways
	Cut                      // close each connection at once
	Stall                    // hold each connection, read nothing, answer nothing
)

// NewProxy starts a proxy to target (host:port) that is closed when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, changed: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL is the proxy's http:// URL.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// Set changes the mode. Cut and Forward close the connections open
// through the proxy; Stall holds them: what they carry from then on is
// never delivered.
func (p *Proxy) Set(m ProxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	close(p.changed)
	p.changed = make(chan struct{})
	if m == Stall {
		return
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *Proxy) close() {
	p.ln.Close()
	p.Set(Cut)
	p.wg.Wait()
}

// track records conns as open through the proxy if the mode is still
// want; else it closes them.
func (p *Proxy) track(want ProxyMode, conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode != want || want == Cut {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		p.mu.Unlock()
		if mode != Forward {
			p.track(mode, c) // stalled: held until the mode changes
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if p.track(Forward, c, up) {
			p.wg.Add(2)
			go p.pipe(c, up)
			go p.pipe(up, c)
		}
	}
}

// pipe copies src to dst until either ends; in Stall mode it holds what
// it read until the mode changes, then closes both.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			mode, changed := p.mode, p.changed
			p.mu.Unlock()
			if mode == Stall {
				<-changed
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
