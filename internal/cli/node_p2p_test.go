package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// nodeProc is an `aleph node run` process.
type nodeProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	api     string // http://host:port, from the "API listening" log line
	p2pAddr string // TCP multiaddr with /p2p/<id>, from a "p2p address" line
	exited  chan struct{}
	err     error // of Wait, set before exited is closed

	mu  sync.Mutex
	log strings.Builder
}

// startNodeProc runs `aleph node run` on free ports with args added, and
// returns once its API and p2p host listen. The test fails with the
// node's log if it does not start within the deadline; the process is
// killed at the end of the test if it still runs.
func startNodeProc(t *testing.T, deadline time.Time, args ...string) *nodeProc {
	t.Helper()
	args = append([]string{"node", "run", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0",
		"--p2p-listen", "/ip4/127.0.0.1/tcp/0,/ip4/127.0.0.1/udp/0/quic-v1"}, args...)
	p := &nodeProc{t: t, cmd: exec.Command(alephBin, args...), exited: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type addrs struct{ api, p2p string }
	found := make(chan addrs, 1)
	go func() {
		var a addrs
		sent := false
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			switch {
			case strings.Contains(line, `msg="API listening"`):
				a.api = "http://" + logValue(line, "addr")
			case strings.Contains(line, `msg="p2p address"`) && strings.Contains(line, "/tcp/") && a.p2p == "":
				a.p2p = logValue(line, "addr")
			}
			if !sent && a.api != "http://" && a.api != "" && a.p2p != "" {
				found <- a
				sent = true
			}
		}
		p.err = p.cmd.Wait() // after the pipe is drained, as Wait wants
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case a := <-found:
		p.api, p.p2pAddr = a.api, a.p2p
	case <-p.exited:
		t.Fatalf("aleph %s exited: %v\n%s", strings.Join(args, " "), p.err, p.logs())
	case <-time.After(time.Until(deadline)):
		t.Fatalf("aleph %s did not start in time\n%s", strings.Join(args, " "), p.logs())
	}
	return p
}

// logValue returns the value of key in a log line of slog's text handler
// (unquoted values only: addresses have no spaces).
func logValue(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func (p *nodeProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// stop sends SIGINT (Ctrl-C) and expects a clean exit before the deadline.
func (p *nodeProc) stop(deadline time.Time) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(time.Until(deadline)):
		p.t.Fatalf("node %s did not stop after SIGINT\n%s", p.api, p.logs())
	}
	if p.err != nil {
		p.t.Errorf("node %s after SIGINT: %v\n%s", p.api, p.err, p.logs())
	}
	if !strings.Contains(p.logs(), `msg="core node stopped"`) {
		p.t.Errorf("node %s: no \"core node stopped\" in its log\n%s", p.api, p.logs())
	}
}

// poll calls f until it returns nil or the deadline passes, and returns
// its last error.
func poll(deadline time.Time, f func() error) error {
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric reads a gauge or counter without labels from GET /metrics.
func metric(api, name string) (float64, error) {
	resp, err := http.Get(api + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no metric %s", name)
}

// messageStatus reads GET /api/v0/messages/{hash}/status.
func messageStatus(api, hash string) (string, error) {
	resp, err := http.Get(api + "/api/v0/messages/" + hash + "/status")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "not found", nil
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	var st struct {
		Status string `json:"status"`
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st.Status, err
}

// TestNodeRunP2P runs two `aleph node run` processes, the second
// bootstrapped to the first, and checks that a message posted to the first
// is processed by the second.
func TestNodeRunP2P(t *testing.T) {
	deadline := time.Now().Add(30 * time.Second)
	a := startNodeProc(t, deadline)
	b := startNodeProc(t, deadline, "--bootstrap", a.p2pAddr)
	if a.p2pAddr == b.p2pAddr {
		t.Fatalf("both nodes have the address %s", a.p2pAddr)
	}

	// A publishes what it processes to the peers of the message topic it
	// knows: wait until B is in its gossip mesh.
	err := poll(deadline, func() error {
		n, err := metric(a.api, "aleph_p2p_mesh_peers")
		if err == nil && n < 1 {
			err = errors.New("B is not in A's mesh")
		}
		return err
	})
	if err != nil {
		t.Fatalf("%v\nA:\n%s\nB:\n%s", err, a.logs(), b.logs())
	}

	e := newEnv(t, a.api)
	e.ok("account", "create")
	var post writeResult
	e.okJSON(&post, "post", "create", "--type", "p2p", "--content", `{"body":"over the network"}`)
	if post.Status != "processed" {
		t.Fatalf("post on A: %+v", post)
	}
	var last string
	err = poll(deadline, func() error {
		st, err := messageStatus(b.api, post.ItemHash)
		if err == nil && st != "processed" {
			err = fmt.Errorf("status on B: %s", st)
		}
		last = st
		return err
	})
	if err != nil {
		t.Fatalf("message %s never processed on B (last %q): %v\nA:\n%s\nB:\n%s", post.ItemHash, last, err, a.logs(), b.logs())
	}

	stopBy := time.Now().Add(30 * time.Second)
	b.stop(stopBy)
	a.stop(stopBy)
}

// TestNodeRunP2PFailure checks that the command fails with one line
// naming the problem when the p2p service cannot start.
func TestNodeRunP2PFailure(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--p2p-listen", "/ip4/127.0.0.1/tcp/notaport"}, "p2p"},
		{[]string{"--bootstrap", "/ip4/127.0.0.1/tcp/1"}, "/ip4/127.0.0.1/tcp/1"},
		{[]string{"--http-peer", "ftp://peer"}, "ftp://peer"},
		{[]string{"--trusted-peer", "nobody"}, "nobody"},
		{[]string{"--announce-url", "peer:4024"}, "peer:4024"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		args := append([]string{"node", "run", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, c.args...)
		out, err := exec.CommandContext(ctx, alephBin, args...).CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		l := string(out)
		if err == nil || timedOut || strings.Count(l, "\n") != 1 || !strings.HasPrefix(l, "aleph: ") || !strings.Contains(l, c.want) {
			t.Errorf("%v: %v, output %q; want one \"aleph: \" line with %q", c.args, err, l, c.want)
		}
	}
}
