// Command aleph-guest is the agent inside a program's isolation (a
// bubblewrap sandbox, a micro VM), where it is the first process. It
// connects to the compute node over one byte stream (a Unix socket, or a
// virtio-serial port), receives the program's configuration, starts the
// program, forwards requests to it over HTTP, reports its output and stops
// it on halt. It reaps every orphan it inherits. Protocol: package
// internal/compute/guest and docs/design/0005-guest-protocol.md.
//
// Build it static: CGO_ENABLED=0 go build ./cmd/aleph-guest
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goaleph/goaleph/internal/compute/guest"
)

func main() {
	os.Exit(run())
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run() int {
	if len(os.Args) > 1 && os.Args[1] == limitedExec {
		return runLimited(os.Args[2:])
	}
	var s settings
	socket := flag.String("socket", env("ALEPH_GUEST_SOCKET", ""), "Unix socket of the host to connect to (env ALEPH_GUEST_SOCKET)")
	device := flag.String("device", env("ALEPH_GUEST_DEVICE", ""), "character device to use instead, e.g. a virtio-serial port (env ALEPH_GUEST_DEVICE)")
	connectTimeout := flag.Duration("connect-timeout", 10*time.Second, "how long to retry connecting to the socket")
	flag.StringVar(&s.codeDir, "code-dir", env("ALEPH_GUEST_CODE_DIR", "/opt/code"), "directory of the program's code (env ALEPH_GUEST_CODE_DIR)")
	flag.StringVar(&s.httpAddr, "http-addr", env("ALEPH_GUEST_HTTP_ADDR", "127.0.0.1:8080"), "where the program serves HTTP (env ALEPH_GUEST_HTTP_ADDR)")
	flag.DurationVar(&s.startupTimeout, "startup-timeout", 60*time.Second, "how long a request waits for the program to listen")
	flag.DurationVar(&s.stopTimeout, "stop-timeout", 5*time.Second, "how long the program has to exit after SIGTERM at halt")
	overlay := flag.String("root-overlay", "", "in a sandbox: make the root an overlay of DIR/lower under the tmpfs DIR/rw, moving the other mounts into it")
	nameserver := flag.String("nameserver", "", "in a sandbox: make /etc/resolv.conf name only this resolver (slirp4netns's 10.0.2.3)")
	dropAll := flag.Bool("drop-caps", false, "give up every capability before connecting")
	vm := flag.Bool("vm", false, "as a micro VM's init: make the root from the runtime disk and serve the host on the virtio-serial port "+vmPortName)
	inst := flag.Bool("instance", false, "as an instance's init: boot its root disk, configure it from the configuration disk, run sshd")
	tmpMiB := flag.Int("tmp-mib", 0, "in a micro VM: the size of each tmpfs (the root's writes, /tmp, /run); 0 for the kernel's default")
	flag.IntVar(&s.dataMiB, "data-mib", 0, "the program's RLIMIT_DATA in MiB; 0 for none")
	flag.DurationVar(&s.listenWait, "listen-wait", 0, "answer the configuration once the program listens, waiting at most this long (0: at once)")
	flag.Parse()

	if *inst {
		return runMachine()
	}
	if *vm {
		return runVM(s, *tmpMiB)
	}

	// Before anything else runs: nothing may use the capabilities the
	// sandbox leaves for this.
	if *overlay != "" {
		if err := overlayRoot(*overlay); err != nil {
			fmt.Fprintln(os.Stderr, "aleph-guest: root overlay:", err)
			return 1
		}
	}
	if *nameserver != "" {
		// Not fatal: the program runs, without name resolution, and the
		// log says why (a runtime whose /etc the sandbox cannot write).
		if err := writeResolvConf("/etc/resolv.conf", *nameserver); err != nil {
			fmt.Fprintln(os.Stderr, "aleph-guest: warning: /etc/resolv.conf:", err)
		}
	}
	if *dropAll {
		if err := dropCaps(); err != nil {
			fmt.Fprintln(os.Stderr, "aleph-guest: dropping capabilities:", err)
			return 1
		}
	}

	pid1 := os.Getpid() == 1
	if !pid1 {
		// Orphans of the program come to the agent rather than to the
		// host's init, as they would to PID 1.
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	}
	code := serve(s, *socket, *device, *connectTimeout)
	if pid1 {
		// PID 1 must not exit: in a VM that is a kernel panic.
		unix.Sync()
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	}
	return code
}

// runVM is the agent as a micro VM's init; it never returns but by
// powering the VM off.
func runVM(s settings, tmpMiB int) int {
	code := 1
	if device, err := vmSetup(tmpMiB); err != nil {
		fmt.Fprintln(os.Stderr, "aleph-guest: setting up the VM:", err)
	} else {
		code = serveVM(s, device)
	}
	// A reboot, which ends QEMU (-no-reboot) at once: -M microvm has no
	// power button for a power-off to reach.
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	return code
}

func serve(s settings, socket, device string, connectTimeout time.Duration) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	r := newReaper()
	defer r.close()

	conn, err := connect(ctx, socket, device, connectTimeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aleph-guest:", err)
		return 1
	}
	srv := guest.NewServer(conn)
	a := newAgent(s, r, srv.Log)
	err = srv.Run(ctx, a)
	if err != nil {
		// The host is gone or we were signalled: stop the program anyway.
		hctx, cancel := context.WithTimeout(context.Background(), s.stopTimeout+6*time.Second)
		a.Halt(hctx)
		cancel()
		fmt.Fprintln(os.Stderr, "aleph-guest:", err)
		return 1
	}
	return 0
}

func connect(ctx context.Context, socket, device string, timeout time.Duration) (io.ReadWriteCloser, error) {
	switch {
	case device != "":
		return os.OpenFile(device, os.O_RDWR, 0)
	case socket == "":
		return nil, fmt.Errorf("no --socket or --device given")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "unix", socket)
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to %s: %w", socket, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
