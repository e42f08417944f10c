//go:build !wasip1

package wasmtest

import (
	"context"

	"github.com/goaleph/goaleph/internal/testbuild"
)

// Build compiles the test program (./prog) to a WASI preview-1 command
// module with the Go toolchain and returns the module's path. The output is
// kept under the user's cache directory (goaleph/wasmtest), named by a hash
// of the sources and the Go version, so it is built once per change.
//
// It needs the package's sources, so it works from a checkout (tests,
// `go run`), not from an installed binary.
func Build(ctx context.Context) (string, error) { return build(ctx, "prog") }

// BuildReactor is Build for a WASI reactor: the test program built with
// -buildmode=c-shared and the wasmguest tag, serving Handler through the
// wasmguest package's export.
func BuildReactor(ctx context.Context) (string, error) {
	return build(ctx, "reactor", "-buildmode=c-shared", "-tags=wasmguest")
}

// BuildGuestCommand is Build with the wasmguest tag: a command serving
// Handler through wasmguest's CGI mode, the same handler as BuildReactor's.
func BuildGuestCommand(ctx context.Context) (string, error) {
	return build(ctx, "guestcmd", "-tags=wasmguest")
}

// build compiles ./prog for wasip1 with flags, cached in goaleph/wasmtest.
func build(ctx context.Context, name string, flags ...string) (string, error) {
	return testbuild.Build(ctx, testbuild.Target{Name: name, Ext: ".wasm",
		Pkg: "./internal/compute/wasm/wasmtest/prog", Flags: flags, Env: []string{"GOOS=wasip1", "GOARCH=wasm"},
		Inputs: []string{"go.mod", "internal/compute/wasm/wasmtest", "wasmguest"}, CacheDir: "wasmtest"})
}
