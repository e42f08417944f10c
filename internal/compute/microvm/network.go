package microvm

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/goaleph/goaleph/internal/compute/slirp"
)

// The network of a VM with internet: QEMU runs in a network namespace of
// its own (unshare), where its user-mode NAT (-netdev user) gives the guest
// 10.0.2.15 behind 10.0.2.2; that namespace's way out is slirp4netns,
// started with --disable-host-loopback as for sandboxes. QEMU's NAT maps
// 10.0.2.2 to its namespace's loopback, on which nothing listens: the
// node's loopback is reached neither way.

// unshareArgs prefixes QEMU's command line with unshare's: a network
// namespace, and a user namespace when the node is not root (in which it
// is root, as slirp4netns needs to join).
func unshareArgs() []string {
	a := []string{"--net"}
	if os.Geteuid() != 0 {
		a = append([]string{"--user", "--map-root-user"}, a...)
	}
	return append(a, "--")
}

// startNet waits for QEMU (pid) to be in its own network namespace, then
// starts slirp4netns on it and waits for it to be up.
func startNet(ctx context.Context, bin string, pid int, exited <-chan struct{}, extra ...string) (*slirp.Process, error) {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return nil, err
	}
	for {
		ns, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
		if err == nil && ns != self {
			break
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("microvm: QEMU exited before its network was up")
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	s, err := slirp.Start(bin, pid, extra...)
	if err != nil {
		return nil, err
	}
	select {
	case err := <-s.Ready:
		if err != nil {
			return nil, err
		}
		return s, nil
	case <-ctx.Done():
		s.Stop()
		return nil, ctx.Err()
	}
}
