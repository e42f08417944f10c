package wasmguest

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeRequest is the reactor's side natively: a request in, a CGI
// response out. (Both modes in a real module: the wasm backend's tests.)
func TestServeRequest(t *testing.T) {
	t.Setenv("GATEWAY_INTERFACE", "")
	var saw *http.Request
	var body string
	Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("X-Evil", "a\r\nInjected: 1")
		w.Header().Add("X-Multi", "1")
		w.Header().Add("X-Multi", "2")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte("<html>hi</html>"))
		w.WriteHeader(http.StatusTeapot) // too late: ignored
	}))
	defer func() { handler = nil }()
	var out bytes.Buffer
	serveRequest(strings.NewReader("PUT /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nAleph-Scope-Type: http\r\nContent-Length: 4\r\n\r\nbodyEXTRA"), &out)
	if saw == nil || saw.Method != "PUT" || saw.URL.Path != "/a b" || saw.URL.RawQuery != "x=1" || saw.Host != "h" ||
		saw.Header.Get(ScopeHeader) != "http" || body != "body" {
		t.Errorf("handler saw %+v, body %q", saw, body)
	}
	want := "Status: 201 Created\r\nContent-Type: text/html; charset=utf-8\r\nX-Evil: a  Injected: 1\r\n" +
		"X-Multi: 1\r\nX-Multi: 2\r\n\r\n<html>hi</html>"
	if out.String() != want {
		t.Errorf("wrote %q, want %q", out.String(), want)
	}

	out.Reset()
	serveRequest(strings.NewReader("not a request"), &out)
	if !strings.HasPrefix(out.String(), "Status: 400 ") {
		t.Errorf("bad request: wrote %q", out.String())
	}
	handler = nil
	out.Reset()
	serveRequest(strings.NewReader("GET / HTTP/1.1\r\n\r\n"), &out)
	if !strings.HasPrefix(out.String(), "Status: 500 ") {
		t.Errorf("no handler: wrote %q", out.String())
	}
}
