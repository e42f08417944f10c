// Package wasmguest serves an http.Handler as a goaleph "wasm" program, so
// that one handler works in both kinds of module the compute node runs:
//
//   - a WASI command (GOOS=wasip1 GOARCH=wasm go build): the node runs
//     the module once per request, CGI-style, and Serve answers that one
//     request with net/http/cgi, then exits;
//   - a WASI reactor (the same with -buildmode=c-shared): the node
//     initialises the module once, keeps it, and calls its export
//     "aleph_http" per request, with the HTTP/1.1 request on standard input;
//     Serve only registers the handler for that export.
//
// A reactor does not run main, so call Serve from an init function:
//
//	func init() { wasmguest.Serve(http.HandlerFunc(hello)) }
//	func main() {}
//
// In a reactor, package state persists from one request to the next (the
// instance is reused); the node may keep a few instances of the program
// side by side, which share nothing. The handler runs while the export
// runs: it may block (sleep, wait for goroutines it started), but
// goroutines left running when it returns only run again during a later
// request. See docs/design/0004-wasm-programs.md in goaleph.
package wasmguest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"os"
)

// ScopeHeader is the request header that says what reached the program:
// "http" for an HTTP request, "aleph.message" for a message event (then the
// body is the message). The node sets it; a client cannot.
const ScopeHeader = "Aleph-Scope-Type"

// handler serves the reactor's export; nil until Serve.
var handler http.Handler

// Serve serves h. In a command run by the node (CGI: GATEWAY_INTERFACE is
// set), it answers the request and exits the program. Otherwise, in a
// reactor module, it registers h for the requests to come and returns.
func Serve(h http.Handler) {
	if os.Getenv("GATEWAY_INTERFACE") == "" {
		handler = h
		return
	}
	err := cgi.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// net/http/cgi made a header of any HTTP_ALEPH_SCOPE_TYPE the
		// client sent: the node's variable wins.
		r.Header.Set(ScopeHeader, os.Getenv("ALEPH_SCOPE_TYPE"))
		h.ServeHTTP(w, r)
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmguest:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveRequest answers one request of a reactor: the HTTP/1.1 request
// read from in, the CGI response written to out.
func serveRequest(in io.Reader, out io.Writer) {
	w := &response{header: http.Header{}}
	r, err := http.ReadRequest(bufio.NewReader(in))
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "wasmguest: reading the request:", err)
		w.WriteHeader(http.StatusBadRequest)
	case handler == nil:
		fmt.Fprintln(os.Stderr, "wasmguest: no handler: call Serve from an init function")
		w.WriteHeader(http.StatusInternalServerError)
	default:
		handler.ServeHTTP(w, r)
	}
	w.finish(out)
}

// response is a reactor's http.ResponseWriter: it keeps the whole answer,
// written as a CGI response when the handler returns.
type response struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *response) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

func (w *response) finish(out io.Writer) error {
	w.WriteHeader(http.StatusOK)
	if _, ok := w.header["Content-Type"]; !ok { // as net/http/cgi does
		w.header.Set("Content-Type", http.DetectContentType(w.body.Bytes()))
	}
	bw := bufio.NewWriter(out)
	fmt.Fprintf(bw, "Status: %d %s\r\n", w.status, http.StatusText(w.status))
	w.header.Write(bw) // newlines in values become spaces
	bw.WriteString("\r\n")
	bw.Write(w.body.Bytes())
	return bw.Flush()
}
