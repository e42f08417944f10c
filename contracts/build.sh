#!/usr/bin/env bash
# Regenerates contracts/build (ABI + bytecode) and the Go bindings in
# internal/chain/ethcontracts from contracts/src/*.sol.
#
# The compiler is npm's solc (solcjs: the compiler built as WebAssembly, no
# native solc needed), pinned in package.json/package-lock.json. The bindings
# come from go-ethereum's abigen at the version go.mod pins. Run it after
# editing a contract and commit everything it writes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
geth_version="$(cd "$root" && go list -m -f '{{.Version}}' github.com/ethereum/go-ethereum)"
out_pkg="$root/internal/chain/ethcontracts"

cd "$here"
npm ci --no-audit --no-fund --silent
node compile.js

mkdir -p "$out_pkg"
for name in AlephSync AlephToken; do
	file="$(echo "$name" | tr '[:upper:]' '[:lower:]')"
	# "go run pkg@version" builds abigen outside our module, so its own
	# dependencies stay out of go.mod.
	go run "github.com/ethereum/go-ethereum/cmd/abigen@$geth_version" \
		--v2 --pkg ethcontracts --type "$name" \
		--abi "$here/build/$name.abi" --bin "$here/build/$name.bin" \
		--out "$out_pkg/$file.go"
done
gofmt -l "$out_pkg"
echo "contracts: wrote $here/build and $out_pkg (solc $(cat "$here/build/SOLC_VERSION"), abigen $geth_version)"
