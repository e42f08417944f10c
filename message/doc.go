// Package message defines the Aleph message: the signed envelope, the six
// content types (POST, AGGREGATE, STORE, PROGRAM, INSTANCE, FORGET), their
// validation rules and limits, item hashes and the protocol error codes.
//
// The package does no I/O and imports nothing else of goaleph, so any Go
// program can use it to build or check messages. Wire formats follow the
// reference node (pyaleph) exactly; see docs/protocol.md.
package message
