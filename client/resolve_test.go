package client_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute/crn/crntest"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
	"github.com/goaleph/goaleph/internal/devnet/devnettest"
)

// TestResolverFailover: a program runs on two real compute nodes; a
// resolver asking a core node (after one that is down) finds both and
// calls them under steady load; when one is killed, no call fails and the
// dead node gets at most two connections per client, before it is ejected.
func TestResolverFailover(t *testing.T) {
	core := devnettest.Core(t).APIURL()
	hash := crntest.Program(t, core, wasmtest.CGIModule("hello from the program", false))
	a, b := crntest.Start(t, core), crntest.Start(t, core)
	for _, n := range []*crntest.Node{a, b} {
		if code, body := n.Call(t, hash, "/"); code != 200 || body != "hello from the program" {
			t.Fatalf("direct call to %s: %d %q", n.URL, code, body)
		}
	}

	const workers = 4
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	down := client.New("http://" + closedAddr(t))
	r := client.NewResolver(client.ResolverConfig{Cores: []*client.Client{down, client.New(core)}, HTTP: hc,
		TTL: 100 * time.Millisecond, EjectFor: time.Minute})
	deadline := time.Now().Add(60 * time.Second)
	for {
		execs, err := r.Nodes(t.Context(), hash)
		if err == nil && len(execs) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the resolver finds %v (%v), want both nodes", execs, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	var ok, failed atomic.Int64
	var firstFail atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := r.Get(t.Context(), hash, "/")
				if err == nil {
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode == 200 && string(body) == "hello from the program" {
						ok.Add(1)
						continue
					}
					err = fmt.Errorf("%d %q", res.StatusCode, body)
				}
				failed.Add(1)
				firstFail.CompareAndSwap(nil, err.Error())
			}
		})
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	waitFor := func(n int64) {
		t.Helper()
		want := ok.Load() + n
		deadline := time.Now().Add(60 * time.Second)
		for ok.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%d calls served, want %d (%d failed: %v)", ok.Load(), want, failed.Load(), firstFail.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(100)
	if a.Conns() == 0 || b.Conns() == 0 {
		t.Errorf("connections before the kill: %d and %d, want both nodes used", a.Conns(), b.Conns())
	}
	a.Kill()
	waitFor(300)
	close(stop)
	wg.Wait()
	t.Logf("%d calls served, %d failed; %d connections to the killed node after the kill", ok.Load(), failed.Load(), a.ConnsAfterKill())
	if failed.Load() != 0 {
		t.Errorf("%d calls failed, want 0 (first: %v)", failed.Load(), firstFail.Load())
	}
	// Per client: the request that finds the node dead, and one retry
	// net/http may make itself on a new connection when a reused one
	// breaks; then the node is ejected.
	if n := a.ConnsAfterKill(); n > 2*workers {
		t.Errorf("%d connections to the killed node after the kill, want at most two per client (%d)", n, 2*workers)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
