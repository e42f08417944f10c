// Package sandbox is the compute backend "sandbox": it runs a program under
// bubblewrap (bwrap ≥ 0.8) with the guest agent (cmd/aleph-guest) as the
// sandbox's first process, reached over a Unix socket bind-mounted into
// the sandbox and speaking the protocol of package guest.
//
// The sandbox has its own PID, mount, IPC, UTS and user namespaces, and its
// own network namespace (only a loopback) when the program has no
// internet. Its root is the runtime directory, read-only; /tmp and /run are
// small tmpfs, the code is read-only at /opt/code. Memory and CPU are
// limited with resource limits set on the sandbox's first process before it
// starts the agent (RLIMIT_DATA, RLIMIT_CPU, nice), since cgroups are not
// available to us on hybrid-cgroup hosts. Choices, limits and figures are in
// docs/design/0006-sandbox.md.
package sandbox
