// Command prog is the program of the sandbox backend's tests: a static HTTP
// server on $ALEPH_HTTP_ADDR (127.0.0.1:8080 by default) whose routes probe
// its isolation and answer what they found, with status 200 and the error
// text in the body when an operation failed:
//
//	/echo            the request as JSON, with the pid, hostname and uid
//	/dial?addr=H:P   open a TCP connection (5 s timeout)
//	/read?path=P     read a file
//	/alloc?mib=N     allocate and touch N MiB, keep it
//	/sleep?d=D       sleep D before answering
//	/env?name=N      an environment variable
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

var kept [][]byte

func main() {
	addr := os.Getenv("ALEPH_HTTP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		host, _ := os.Hostname()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"pid": os.Getpid(), "uid": os.Getuid(), "hostname": host,
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(body),
		})
	})
	http.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		c, err := net.DialTimeout("tcp", r.URL.Query().Get("addr"), 5*time.Second)
		if err != nil {
			fmt.Fprint(w, "error: ", err)
			return
		}
		c.Close()
		fmt.Fprint(w, "connected")
	})
	http.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			fmt.Fprint(w, "error: ", err)
			return
		}
		w.Write(b)
	})
	http.HandleFunc("/alloc", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("mib"))
		for range n {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			kept = append(kept, b)
		}
		fmt.Fprintf(w, "allocated %d MiB", len(kept))
	})
	http.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
		fmt.Fprint(w, "slept")
	})
	http.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv(r.URL.Query().Get("name")))
	})
	fmt.Println("prog: listening on", addr)
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "prog:", err)
		os.Exit(1)
	}
}
