// Package sandbox is the compute backend "sandbox": it runs a program under
// bubblewrap (bwrap ≥ 0.8) with the guest agent (cmd/aleph-guest) as the
// sandbox's first process, reached over a Unix socket bind-mounted into
// the sandbox and speaking the protocol of package guest.
//
// The sandbox has its own PID, mount, IPC, UTS, user and network
// namespaces: only a loopback without internet; with internet, a tap device
// behind slirp4netns's user-mode NAT, which does not lead to the host's
// loopback (or, without slirp4netns, the host's namespace: see
// Config.RequireNetworkIsolation). Its root is the runtime directory under a
// writable tmpfs overlay the agent builds; /tmp and /run are small tmpfs,
// the code is read-only at /opt/code. Memory and CPU are
// limited with resource limits set on the sandbox's first process before it
// starts the agent (RLIMIT_DATA, RLIMIT_CPU, nice), since cgroups are not
// available to us on hybrid-cgroup hosts. Choices, limits and figures are in
// docs/design/0006-sandbox.md.
package sandbox
