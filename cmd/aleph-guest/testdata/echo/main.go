// Command echo is the program of aleph-guest's tests: an HTTP server on
// $ALEPH_HTTP_ADDR that answers each request with a JSON description of it.
// ECHO_DELAY delays listening; ECHO_NO_LISTEN never listens; ECHO_IGNORE_TERM
// ignores SIGTERM. GET /exit answers, then exits with status 3; GET /orphan
// leaves an orphan that exits 200 ms later and answers its pid.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if d, err := time.ParseDuration(os.Getenv("ECHO_SLEEP")); err == nil {
		time.Sleep(d) // a grandchild for /orphan
		return
	}
	if os.Getenv("ECHO_ORPHAN") != "" {
		// Start a grandchild and leave it to whoever reaps orphans.
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), "ECHO_ORPHAN=", "ECHO_SLEEP=200ms")
		if err := c.Start(); err != nil {
			panic(err)
		}
		fmt.Print(c.Process.Pid)
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		for range sig {
			fmt.Println("echo: SIGTERM")
			if os.Getenv("ECHO_IGNORE_TERM") == "" {
				os.Exit(0)
			}
		}
	}()
	fmt.Fprintln(os.Stderr, "echo: starting, GREETING="+os.Getenv("GREETING"))
	if d, err := time.ParseDuration(os.Getenv("ECHO_DELAY")); err == nil {
		time.Sleep(d)
	}
	if os.Getenv("ECHO_NO_LISTEN") != "" {
		select {}
	}
	http.HandleFunc("/orphan", func(w http.ResponseWriter, r *http.Request) {
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), "ECHO_ORPHAN=1")
		out, err := c.Output()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write(out)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo", "1")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{
			"pid":    os.Getpid(),
			"method": r.Method,
			"path":   r.URL.Path,
			"query":  r.URL.RawQuery,
			"host":   r.Host,
			"header": r.Header.Get("X-Test"),
			"body":   string(body),
		})
		if r.URL.Path == "/exit" {
			w.(http.Flusher).Flush()
			go func() { time.Sleep(50 * time.Millisecond); os.Exit(3) }()
		}
	})
	fmt.Println("echo: listening on " + os.Getenv("ALEPH_HTTP_ADDR"))
	if err := http.ListenAndServe(os.Getenv("ALEPH_HTTP_ADDR"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
