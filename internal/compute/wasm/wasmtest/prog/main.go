// Command prog is wasmtest.Serve as a CGI program, built for WASI
// preview-1 by wasmtest.Build.
package main

import (
	"os"

	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
)

func main() {
	os.Exit(wasmtest.Serve(os.Environ(), os.Stdin, os.Stdout, os.Stderr))
}
