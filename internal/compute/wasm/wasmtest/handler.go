// Package wasmtest holds the program the wasm backend's tests and
// benchmarks run: one CGI program whose path chooses a behaviour (echo the
// request, loop, allocate, answer badly, read a file, exit), and the
// helper that builds it into a WASI preview-1 module.
//
// Serve is plain Go so that benchmarks can also call it natively, without
// the sandbox, and measure what the sandbox costs.
package wasmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

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
