//go:build wasmguest

package main

import (
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
	"github.com/goaleph/goaleph/wasmguest"
)

// With the wasmguest tag (wasmtest.BuildReactor), the program serves
// wasmtest.Handler through wasmguest: registered for the reactor's export
// (-buildmode=c-shared, main does not run), or answering the CGI request
// and exiting (a command).
func init() { wasmguest.Serve(wasmtest.Handler) }
