// Package wasmtest holds the program the wasm backend's tests and
// benchmarks run: one CGI program whose path chooses a behaviour (echo the
// request, loop, allocate, answer badly, read a file, exit, count), and the
// helpers that build it into a WASI preview-1 module: a command (Build) or
// a reactor serving Handler through wasmguest (BuildReactor).
//
// Serve is plain Go so that benchmarks can also call it natively, without
// the sandbox, and measure what the sandbox costs.
package wasmtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// count is what /count counts: requests served by this process (this
// module instance).
var count atomic.Int64

// Echo is what the program answers on any path without a behaviour of its
// own: the request as it saw it.
type Echo struct {
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Query    string            `json:"query"`
	Protocol string            `json:"protocol"`
	Headers  map[string]string `json:"headers"` // HTTP_* variables
	Env      map[string]string `json:"env"`     // every variable
	Body     string            `json:"body"`
}

// Serve runs the program once: environ is the CGI environment ("K=V"),
// stdin the request body; it writes the CGI response to stdout and returns
// the exit code.
//
// Paths:
//
//	/loop              spin forever
//	/sleep             sleep for an hour
//	/alloc?mib=N       allocate and touch N MiB, answer "allocated N MiB"
//	/malformed         write a body without a header block
//	/read?file=P       answer the contents of file P, or exit 1
//	/exit?code=N       write "exiting N" to stderr and exit N
//	/log?n=N           write N lines to stderr, answer "ok"
//	/status?code=N     answer status N with a Location header
//	/count?ms=N        count the request, sleep N ms, answer "count C":
//	                   C-1 requests were served before by this instance
//	/trap              store out of the memory: a WebAssembly trap (only
//	                   in a module; natively it is a segmentation fault)
//	anything else      answer the request as JSON (Echo)
func Serve(environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	q, _ := url.ParseQuery(env["QUERY_STRING"])
	intArg := func(name string) int { n, _ := strconv.Atoi(q.Get(name)); return n }

	switch env["PATH_INFO"] {
	case "/loop":
		n := 0
		for {
			n++
			if n < 0 { // never, but the compiler cannot tell
				fmt.Fprintln(stderr, n)
			}
		}
	case "/sleep":
		time.Sleep(time.Hour)
		return 0
	case "/alloc":
		mib := intArg("mib")
		keep := make([][]byte, 0, mib)
		for i := 0; i < mib; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = byte(j)
			}
			keep = append(keep, b)
		}
		fmt.Fprintf(stdout, "Content-Type: text/plain\n\nallocated %d MiB", len(keep))
		return 0
	case "/malformed":
		fmt.Fprint(stdout, "this is not a CGI response")
		return 0
	case "/read":
		b, err := os.ReadFile(q.Get("file"))
		if err != nil {
			fmt.Fprintln(stderr, "read:", err)
			return 1
		}
		fmt.Fprint(stdout, "Content-Type: application/octet-stream\r\n\r\n")
		stdout.Write(b)
		return 0
	case "/exit":
		fmt.Fprintf(stderr, "exiting %d\n", intArg("code"))
		return intArg("code")
	case "/log":
		for i := 0; i < intArg("n"); i++ {
			fmt.Fprintf(stderr, "line %d\n", i)
		}
		fmt.Fprint(stdout, "Content-Type: text/plain\n\nok")
		return 0
	case "/count":
		c := count.Add(1)
		time.Sleep(time.Duration(intArg("ms")) * time.Millisecond)
		fmt.Fprintf(stdout, "Content-Type: text/plain\n\ncount %d", c)
		return 0
	case "/trap":
		*(*byte)(unsafe.Add(unsafe.Pointer(nil), 0xfffffff0)) = 1
		return 0
	case "/status":
		fmt.Fprintf(stdout, "Status: %d Chosen\r\nLocation: /elsewhere\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n", intArg("code"))
		return 0
	}

	body, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintln(stderr, "stdin:", err)
		return 1
	}
	e := Echo{
		Method:   env["REQUEST_METHOD"],
		Path:     env["PATH_INFO"],
		Query:    env["QUERY_STRING"],
		Protocol: env["SERVER_PROTOCOL"],
		Headers:  map[string]string{},
		Env:      env,
		Body:     string(body),
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "HTTP_") {
			e.Headers[k] = env[k]
		}
	}
	out, _ := json.Marshal(e)
	fmt.Fprintf(stdout, "Status: 200 OK\r\nContent-Type: application/json\r\nX-Echo: 1\r\n\r\n%s", out)
	return 0
}

// Handler is Serve as an http.Handler, for a reactor (wasmguest): it
// passes the request to Serve as a CGI request (the process's environment,
// then the request's variables) and relays Serve's CGI answer. An exit
// code other than 0 exits the process, as it ends a command.
var Handler http.Handler = http.HandlerFunc(serveHTTP)

func serveHTTP(w http.ResponseWriter, r *http.Request) {
	env := append(os.Environ(),
		"REQUEST_METHOD="+r.Method,
		"PATH_INFO="+r.URL.Path,
		"QUERY_STRING="+r.URL.RawQuery,
		"SERVER_PROTOCOL="+r.Proto,
		"CONTENT_LENGTH="+strconv.FormatInt(r.ContentLength, 10),
	)
	if r.Host != "" { // net/http took it out of the header
		env = append(env, "HTTP_HOST="+r.Host)
	}
	for k, vs := range r.Header {
		switch k {
		case "Content-Length":
		case "Content-Type":
			env = append(env, "CONTENT_TYPE="+vs[0])
		default:
			env = append(env, "HTTP_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))+"="+strings.Join(vs, ", "))
		}
	}
	var out bytes.Buffer
	if code := Serve(env, r.Body, &out, os.Stderr); code != 0 {
		os.Exit(code)
	}
	br := bufio.NewReader(&out)
	h, err := textproto.NewReader(br).ReadMIMEHeader()
	if err != nil {
		http.Error(w, "malformed CGI answer: "+err.Error(), http.StatusBadGateway)
		return
	}
	status := http.StatusOK
	if s := h.Get("Status"); s != "" {
		status, _ = strconv.Atoi(strings.Fields(s)[0])
		h.Del("Status")
	}
	for k, vs := range h {
		w.Header()[k] = vs
	}
	w.WriteHeader(status)
	io.Copy(w, br)
}
