//go:build wasip1

package wasmguest

import "os"

// alephHTTP is the reactor's entry point: the node calls it once per
// request, with the request on standard input, and reads the response on
// standard output.
//
//go:wasmexport aleph_http
func alephHTTP() { serveRequest(os.Stdin, os.Stdout) }
