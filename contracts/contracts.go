// Package contracts holds the compiled Ethereum contracts goaleph uses: the
// AlephSync anchoring contract (ABI-compatible with the one the Aleph network
// deployed on Ethereum mainnet) and AlephToken, an 18-decimal ERC-20 for
// devnets and tests. The Solidity sources are in src/, the compiler output in
// build/; build.sh regenerates both and the Go bindings in
// internal/chain/ethcontracts.
package contracts

import _ "embed"

// SyncABI is the JSON ABI of AlephSync.
//
//go:embed build/AlephSync.abi
var SyncABI string

// SyncBin is the hex creation code of AlephSync.
//
//go:embed build/AlephSync.bin
var SyncBin string

// TokenABI is the JSON ABI of AlephToken.
//
//go:embed build/AlephToken.abi
var TokenABI string

// TokenBin is the hex creation code of AlephToken.
//
//go:embed build/AlephToken.bin
var TokenBin string

// Event signatures of AlephSync as the mainnet contract declares them; their
// Keccak-256 hashes are the logs' first topics.
const (
	SyncEventSig    = "SyncEvent(uint256,address,string)"
	MessageEventSig = "MessageEvent(uint256,address,string,string)"
)
