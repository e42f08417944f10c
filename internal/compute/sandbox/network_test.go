package sandbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
)

// requireSlirp fails under CI (scripts/install-deps.sh installs it) and
// skips elsewhere when slirp4netns is missing.
func requireSlirp(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("slirp4netns is missing (install it: scripts/install-deps.sh)")
		}
		t.Skip("slirp4netns is missing (install slirp4netns)")
	}
}

// listen opens a TCP listener on addr that accepts and closes connections
// until the test ends.
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

// hostAddr returns an IPv4 address of one of the host's interfaces other
// than loopback: what a program behind slirp4netns reaches as any machine
// of the network would, without depending on the public internet.
func hostAddr(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	const why = "this host has no IPv4 address but loopback's: the NAT test needs one to listen on " +
		"(the sandbox cannot reach the host's loopback, by design)"
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
	return ""
}

func port(ln net.Listener) string { return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) }

// TestInternet checks a program with internet: it has a network namespace of
// its own behind slirp4netns's NAT, reaches the host's network addresses
// but not its loopback, and resolves names through slirp4netns.
func TestInternet(t *testing.T) {
	requireSlirp(t)
	b, spec := setup(t)
	host := hostAddr(t)
	outside := listen(t, net.JoinHostPort(host, "0"))
	loopback := listen(t, "127.0.0.1:0")
	spec.Internet = true
	in := run(t, b, spec)

	if got := get(t, in, "/dial", "addr="+outside.Addr().String()); got != "connected" {
		t.Errorf("dial %s (the host's %s) with internet: %s", outside.Addr(), host, got)
	}
	for _, addr := range []string{
		loopback.Addr().String(),               // the sandbox's own loopback
		"10.0.2.2:" + port(loopback),           // slirp4netns's way to the host's, disabled
		net.JoinHostPort(host, port(loopback)), // bound to loopback only
	} {
		if got := get(t, in, "/dial", "addr="+addr); !strings.HasPrefix(got, "error") {
			t.Errorf("dial %s with internet, the host's loopback listening on %s: %s", addr, loopback.Addr(), got)
		}
	}
	if got := get(t, in, "/env", "name=ALEPH_HTTP_ADDR"); got != programAddr {
		t.Errorf("ALEPH_HTTP_ADDR=%q, want %s", got, programAddr)
	}
	if got := get(t, in, "/read", "path=/proc/net/dev"); !strings.Contains(got, slirpTap+":") {
		t.Errorf("no %s in the sandbox:\n%s", slirpTap, got)
	}
	conf := get(t, in, "/read", "path=/etc/resolv.conf")
	var servers []string
	for _, l := range strings.Split(conf, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "nameserver" {
			servers = append(servers, f[1])
		}
	}
	if !slices.Equal(servers, []string{slirpDNS}) {
		t.Errorf("resolv.conf names %v, want [%s]:\n%s", servers, slirpDNS, conf)
	}
	// The runtime's own file is untouched (the sandboxtest runtime has
	// none).
	if _, err := os.Lstat(filepath.Join(spec.Runtime, "etc/resolv.conf")); !os.IsNotExist(err) {
		t.Errorf("the runtime directory has etc/resolv.conf: %v", err)
	}
}

// TestInternetPort8080 runs two programs with internet, both on
// 127.0.0.1:8080, beside the host's own port 8080.
func TestInternetPort8080(t *testing.T) {
	requireSlirp(t)
	b, spec := setup(t)
	// Hold the host's 8080 if it is free; if it is not, something else
	// holds it, which proves the same.
	if ln, err := net.Listen("tcp", programAddr); err == nil {
		t.Cleanup(func() { ln.Close() })
	}
	spec.Internet = true
	var ins []compute.Instance
	for i := 0; i < 2; i++ {
		ins = append(ins, run(t, b, spec))
	}
	for i, in := range ins {
		if got := get(t, in, "/env", "name=ALEPH_HTTP_ADDR"); got != programAddr {
			t.Errorf("program %d: ALEPH_HTTP_ADDR=%q, want %s", i, got, programAddr)
		}
		if got := get(t, in, "/echo", ""); !strings.Contains(got, `"hostname"`) {
			t.Errorf("program %d: /echo answered %q", i, got)
		}
	}
}

// slirpProcesses lists the host pids of slirp4netns processes attached to
// the process pid.
func slirpProcesses(pid int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == "slirp4netns" && slices.Contains(args, strconv.Itoa(pid)) {
			n, _ := strconv.Atoi(e.Name())
			pids = append(pids, n)
		}
	}
	sort.Ints(pids)
	return pids
}

// TestInternetStopLeavesNothing checks that slirp4netns goes with its
// sandbox: on Stop, and when the program exits by itself.
func TestInternetStopLeavesNothing(t *testing.T) {
	requireSlirp(t)
	b, spec := setup(t)
	spec.Internet = true
	for _, how := range []string{"stop", "program exits"} {
		in := run(t, b, spec)
		get(t, in, "/echo", "")
		sb := in.(*instance)
		pid := sb.childPid
		if got := slirpProcesses(pid); len(got) != 1 || got[0] != sb.slirp.Cmd.Process.Pid {
			t.Fatalf("%s: slirp4netns processes of the sandbox %v, want [%d]", how, got, sb.slirp.Cmd.Process.Pid)
		}
		switch how {
		case "stop":
			if err := in.Stop(testCtx(t)); err != nil {
				t.Fatal(err)
			}
		case "program exits":
			// Out of memory: the program dies, the instance stops
			// itself.
			in.Call(testCtx(t), &compute.Scope{Type: "http", Method: "GET", Path: "/alloc", QueryString: "mib=1024"})
			select {
			case <-in.Done():
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: the instance is not done", how)
			}
			sb.wg.Wait() // the instance's own stop
		}
		if got := slirpProcesses(pid); len(got) > 0 {
			t.Errorf("%s: slirp4netns left: %v", how, got)
		}
		if err := syscall.Kill(sb.slirp.Cmd.Process.Pid, 0); err != syscall.ESRCH {
			t.Errorf("%s: slirp4netns %d still there: %v", how, sb.slirp.Cmd.Process.Pid, err)
		}
	}
}

// TestNetworkFallback checks a node without slirp4netns: it warns, and
// runs a program with internet in the host's network namespace, or refuses
// it when told to.
func TestNetworkFallback(t *testing.T) {
	_, spec := setup(t)
	spec.Internet = true
	var logs bytes.Buffer
	cfg := Config{Agent: fixture.agent, StateDir: t.TempDir(), Slirp4netns: "/nonexistent/slirp4netns",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "slirp4netns not found") || !strings.Contains(logs.String(), "share the host's network") {
		t.Errorf("no warning: %q", logs.String())
	}
	loopback := listen(t, "127.0.0.1:0")
	in := run(t, b, spec)
	if got := get(t, in, "/dial", "addr="+loopback.Addr().String()); got != "connected" {
		t.Errorf("dial the host's %s without slirp4netns: %s", loopback.Addr(), got)
	}
	if got := get(t, in, "/env", "name=ALEPH_HTTP_ADDR"); got == programAddr || !strings.HasPrefix(got, "127.0.0.1:") {
		t.Errorf("ALEPH_HTTP_ADDR=%q in the host's network namespace, want a free port", got)
	}

	cfg.RequireNetworkIsolation = true
	b, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Prepare(testCtx(t), spec); !errors.Is(err, ErrNoNetworkIsolation) {
		t.Errorf("Prepare with internet, isolation required, no slirp4netns: %v, want ErrNoNetworkIsolation", err)
	}
	spec.Internet = false
	get(t, run(t, b, spec), "/echo", "")
}

// BenchmarkColdStart measures a cold start (Prepare, Start, Ready, first
// call) without internet, with internet behind slirp4netns, and with
// internet in the host's network namespace (a node without slirp4netns):
// the cost of slirp4netns. Run it with -benchtime=20x; it reports the
// median and the 95th percentile.
func BenchmarkColdStart(b *testing.B) {
	for _, net := range []string{"none", "slirp4netns", "host"} {
		b.Run("internet="+net, func(b *testing.B) {
			if net == "slirp4netns" {
				requireSlirp(b)
			}
			be, spec := setup(b)
			spec.Internet = net != "none"
			if net == "host" {
				var err error
				be, err = New(Config{Agent: fixture.agent, StateDir: b.TempDir(), Slirp4netns: "/nonexistent/slirp4netns",
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
			}
			var ds []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ctx := context.Background()
				t0 := time.Now()
				in, err := be.Prepare(ctx, spec)
				if err != nil {
					b.Fatal(err)
				}
				err = in.Start(ctx)
				if err == nil {
					err = in.Ready(ctx)
				}
				if err == nil {
					_, err = in.Call(ctx, &compute.Scope{Type: "http", Method: "GET", Path: "/echo"})
				}
				d := time.Since(t0)
				b.StopTimer()
				in.Stop(ctx)
				if err != nil {
					b.Fatalf("%v\nlogs: %+v", err, in.Logs())
				}
				ds = append(ds, d)
				b.StartTimer()
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(ds[(len(ds)*95)/100].Microseconds())/1000, "p95-ms")
		})
	}
}
