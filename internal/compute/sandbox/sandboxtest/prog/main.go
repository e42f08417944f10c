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
//	/now             the wall clock, in Unix nanoseconds
//	/write?path=P&data=D[&mib=N]
//	                 create P (and its directories) holding D, or N MiB
//	/mount?path=P    mount a tmpfs on P
//	/umount?path=P   detach the mount on P
//	/userns          start a child in a new user namespace
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

var kept [][]byte

// answer writes "ok", or the error.
func answer(w http.ResponseWriter, err error) {
	if err != nil {
		fmt.Fprint(w, "error: ", err)
		return
	}
	fmt.Fprint(w, "ok")
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		return // /userns's child
	}
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
	http.HandleFunc("/now", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, time.Now().UnixNano())
	})
	http.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv(r.URL.Query().Get("name")))
	})
	http.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p := q.Get("path")
		data := []byte(q.Get("data"))
		if n, _ := strconv.Atoi(q.Get("mib")); n > 0 {
			data = make([]byte, n<<20)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			answer(w, err)
			return
		}
		f, err := os.Create(p)
		if err != nil {
			answer(w, err)
			return
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		answer(w, err)
	})
	http.HandleFunc("/mount", func(w http.ResponseWriter, r *http.Request) {
		answer(w, syscall.Mount("tmpfs", r.URL.Query().Get("path"), "tmpfs", 0, ""))
	})
	http.HandleFunc("/umount", func(w http.ResponseWriter, r *http.Request) {
		answer(w, syscall.Unmount(r.URL.Query().Get("path"), syscall.MNT_DETACH))
	})
	http.HandleFunc("/userns", func(w http.ResponseWriter, r *http.Request) {
		cmd := exec.Command("/proc/self/exe", "child")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS}
		answer(w, cmd.Run())
	})
	fmt.Println("prog: listening on", addr)
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "prog:", err)
		os.Exit(1)
	}
}
