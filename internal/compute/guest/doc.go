// Package guest is the protocol between the compute node and the agent that
// runs a program inside its isolation (cmd/aleph-guest): length-prefixed
// msgpack frames over one reliable byte stream (a Unix socket bind-mounted
// into a sandbox, a virtio-serial port of a VM), carrying the reference
// runtime's payloads (configuration, ASGI-like scope and response, halt)
// with ids so that concurrent requests share the stream.
//
// The host uses Client (Dial); the guest uses Server. The format, message
// kinds and sequences are in docs/design/0005-guest-protocol.md.
package guest
