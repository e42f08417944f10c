package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/sandbox"
	"github.com/goaleph/goaleph/internal/compute/sandbox/sandboxtest"
	"github.com/goaleph/goaleph/internal/compute/wasm"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
)

// The backend level (-level backend): each backend driven directly
// through compute.Backend (Prepare, Start, Ready, Call), without the
// node, so that its figures say where the node level's time goes.

// subject is a backend under measurement: how to make one (with its
// compile cache in cacheDir, or in memory only if empty), the spec of its
// test program, and the same program's handler called natively.
type subject struct {
	name       string
	newBackend func(cacheDir string) (compute.Backend, func(), error)
	spec       func(ctx context.Context) (compute.Spec, error)
	native     func(s *compute.Scope) error
}

// newWasm is the wasm backend with its compiled-module cache in cacheDir.
func newWasm(cacheDir string) (compute.Backend, func(), error) {
	b, err := wasm.New(wasm.Config{CacheDir: cacheDir})
	if err != nil {
		return nil, nil, err
	}
	return b, func() { b.Close(context.Background()) }, nil
}

var subjects = []subject{
	{
		name:       "wasm",
		newBackend: newWasm,
		spec: func(ctx context.Context) (compute.Spec, error) {
			path, err := wasmtest.Build(ctx)
			return compute.Spec{ProgramHash: "bench", Interface: compute.WASM, Code: path,
				MemoryMiB: 128, Timeout: 30 * time.Second}, err
		},
		native: nativeEcho,
	},
	{
		// The same backend with a hand-written module that writes a
		// constant response: what the backend itself costs, without a
		// language runtime starting in every instance (Go's, above).
		name:       "wasm-tiny",
		newBackend: newWasm,
		spec: func(ctx context.Context) (compute.Spec, error) {
			path := filepath.Join(os.TempDir(), "goaleph-coldstart-tiny.wasm")
			err := os.WriteFile(path, wasmtest.CGIModule(tinyBody, false), 0o644)
			return compute.Spec{ProgramHash: "bench-tiny", Interface: compute.WASM, Code: path,
				MemoryMiB: 16, Timeout: 30 * time.Second}, err
		},
		native: nativeConstant,
	},
	{
		// The cache directory means nothing to the sandbox: its three cold
		// figures are the same measurement.
		name: "sandbox",
		newBackend: func(string) (compute.Backend, func(), error) {
			agent, err := sandboxtest.Agent(context.Background())
			if err != nil {
				return nil, nil, err
			}
			b, err := sandbox.New(sandbox.Config{Agent: agent})
			return b, func() {}, err
		},
		spec: func(ctx context.Context) (compute.Spec, error) {
			dir := filepath.Join(os.TempDir(), "goaleph-coldstart-sandbox")
			root, code := filepath.Join(dir, "root"), filepath.Join(dir, "code")
			if err := sandboxtest.Runtime(root); err != nil {
				return compute.Spec{}, err
			}
			ent, err := sandboxtest.Code(ctx, code)
			return compute.Spec{ProgramHash: "bench", Interface: compute.Executable, Entrypoint: ent,
				Code: code, Runtime: root, MemoryMiB: 128, Timeout: 30 * time.Second}, err
		},
		native: nativeHTTP,
	},
}

// tinyBody is the body the tiny module answers.
const tinyBody = "hello from a tiny module\n"

// nativeConstant is the tiny module's work done natively: writing its
// constant response.
func nativeConstant(*compute.Scope) error {
	var b bytes.Buffer
	b.WriteString("Content-Type: text/plain\nX-Program: test\nVary: Accept\n\n" + tinyBody)
	if b.Len() == 0 {
		return fmt.Errorf("empty response")
	}
	return nil
}

// The sandbox's test program run directly on the host, started once and
// killed with this process.
var direct struct {
	once sync.Once
	url  string
	err  error
}

// directServer starts the sandbox's test program on the host, outside any
// sandbox, on a loopback port, and returns its base URL.
func directServer(ctx context.Context) (string, error) {
	direct.once.Do(func() {
		prog, err := sandboxtest.Program(ctx)
		if err != nil {
			direct.err = err
			return
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			direct.err = err
			return
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(prog)
		cmd.Env = []string{"ALEPH_HTTP_ADDR=" + addr}
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if direct.err = cmd.Start(); direct.err != nil {
			return
		}
		go cmd.Wait()
		for range 100 {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				direct.url = "http://" + addr
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		direct.err = fmt.Errorf("the program does not listen on %s", addr)
	})
	return direct.url, direct.err
}

// directClient calls the direct server.
var directClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}

// nativeHTTP sends the request over HTTP to the sandbox's test program
// running outside any sandbox, as the guest agent does inside.
func nativeHTTP(s *compute.Scope) error {
	url, err := directServer(context.Background())
	if err != nil {
		return err
	}
	req, err := http.NewRequest(s.Method, url+s.Path+"?"+s.QueryString, bytes.NewReader(s.Body))
	if err != nil {
		return err
	}
	for _, h := range s.Headers {
		req.Header.Add(h[0], h[1])
	}
	resp, err := directClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// nativeEcho runs the echo handler in-process: the CGI environment and
// body in, the response split from its headers.
func nativeEcho(s *compute.Scope) error {
	env := []string{
		"GATEWAY_INTERFACE=CGI/1.1", "SERVER_PROTOCOL=HTTP/1.1", "REQUEST_METHOD=" + s.Method,
		"PATH_INFO=" + s.Path, "QUERY_STRING=" + s.QueryString, fmt.Sprintf("CONTENT_LENGTH=%d", len(s.Body)),
	}
	for _, h := range s.Headers {
		env = append(env, "HTTP_"+strings.ToUpper(strings.ReplaceAll(h[0], "-", "_"))+"="+h[1])
	}
	var out bytes.Buffer
	if code := wasmtest.Serve(env, bytes.NewReader(s.Body), &out, io.Discard); code != 0 {
		return fmt.Errorf("exit code %d", code)
	}
	if !bytes.Contains(out.Bytes(), []byte("\r\n\r\n")) {
		return fmt.Errorf("no header block")
	}
	return nil
}

func request() *compute.Scope {
	return &compute.Scope{Type: "http", Method: "POST", Path: "/echo", QueryString: "a=1",
		Headers: [][2]string{{"content-type", "application/json"}, {"user-agent", "coldstart"}},
		Body:    []byte(`{"hello":"world"}`)}
}

// backendLevel measures the backends named in only (all if empty).
func backendLevel(ctx context.Context, only map[string]bool, n, warmN, conc int, dur time.Duration) error {
	if only["microvm"] {
		if err := measureMicroVM(ctx, n, warmN, conc, dur); err != nil {
			return fmt.Errorf("microvm: %w", err)
		}
		delete(only, "microvm")
		if len(only) == 0 {
			return nil
		}
	}
	for _, sub := range subjects {
		if len(only) > 0 && !only[sub.name] {
			continue
		}
		if err := measure(ctx, sub, n, warmN, conc, dur); err != nil {
			return fmt.Errorf("%s: %w", sub.name, err)
		}
	}
	return nil
}

func measure(ctx context.Context, sub subject, n, warmN, conc int, dur time.Duration) error {
	spec, err := sub.spec(ctx)
	if err != nil {
		return err
	}
	if st, err := os.Stat(spec.Code); err == nil && !st.IsDir() {
		fmt.Printf("%s: program %s (%.1f MB)\n", sub.name, spec.Code, float64(st.Size())/1e6)
	}
	// coldRunNew is coldRun on a new backend with its cache in cacheDir.
	coldRunNew := func(cacheDir string) (time.Duration, error) {
		b, closeB, err := sub.newBackend(cacheDir)
		if err != nil {
			return 0, err
		}
		defer closeB()
		return coldRun(ctx, b, spec)
	}

	// Cold, first compile: a new backend, memory cache only, each run.
	var first []time.Duration
	for range n {
		d, err := coldRunNew("")
		if err != nil {
			return err
		}
		first = append(first, d)
	}
	report(sub.name, "cold, first compile", first)

	// Cold, compiled on disk: new backends over one primed cache directory.
	dir, err := os.MkdirTemp("", "coldstart")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var disk []time.Duration
	for i := range n + 1 {
		d, err := coldRunNew(dir)
		if err != nil {
			return err
		}
		if i > 0 { // the first one compiled
			disk = append(disk, d)
		}
	}
	report(sub.name, "cold, compiled on disk", disk)

	// Cold, compiled in memory; then warm on one instance.
	b, closeB, err := sub.newBackend("")
	if err != nil {
		return err
	}
	defer closeB()
	var mem []time.Duration
	for i := range n + 1 {
		d, err := coldRun(ctx, b, spec)
		if err != nil {
			return err
		}
		if i > 0 {
			mem = append(mem, d)
		}
	}
	report(sub.name, "cold, compiled in memory", mem)

	in, err := b.Prepare(ctx, spec)
	if err != nil {
		return err
	}
	defer in.Stop(ctx)
	if err := in.Start(ctx); err != nil {
		return err
	}
	if err := in.Ready(ctx); err != nil {
		return err
	}
	warm, native, err := warmRuns(ctx, in, sub.native, warmN)
	if err != nil {
		return err
	}
	report(sub.name, "warm", warm)
	report(sub.name, "native", native)

	tp := throughput(func() error { _, err := in.Call(ctx, request()); return err }, conc, dur)
	if tp.first != nil {
		return tp.first
	}
	rps := tp.rps
	nativeRPS := throughput(func() error { return sub.native(request()) }, conc, dur/5).rps
	fmt.Printf("%s: throughput, %d callers: %.0f requests/s (native %.0f/s)\n", sub.name, conc, rps, nativeRPS)

	overhead := pct(warm, 50) - pct(native, 50)
	fmt.Printf("%s: warm overhead over native (p50): %s\n", sub.name, ms(overhead))
	fmt.Printf("RESULT level=backend subject=%s cold_compile_p50_ms=%s cold_compile_p95_ms=%s cold_disk_p50_ms=%s cold_disk_p95_ms=%s "+
		"cold_mem_p50_ms=%s cold_mem_p95_ms=%s warm_p50_ms=%s warm_p95_ms=%s native_p50_ms=%s overhead_p50_ms=%s rps_c%d=%.0f\n",
		sub.name, ms(pct(first, 50)), ms(pct(first, 95)), ms(pct(disk, 50)), ms(pct(disk, 95)),
		ms(pct(mem, 50)), ms(pct(mem, 95)), ms(pct(warm, 50)), ms(pct(warm, 95)), ms(pct(native, 50)),
		ms(overhead), conc, rps)
	return nil
}

// warmRuns times n calls on in, each followed by the same request to the
// program run natively.
func warmRuns(ctx context.Context, in compute.Instance, nativeCall func(*compute.Scope) error, n int) (warm, native []time.Duration, err error) {
	for range n {
		t0 := time.Now()
		if _, err := in.Call(ctx, request()); err != nil {
			return nil, nil, err
		}
		warm = append(warm, time.Since(t0))
		t0 = time.Now()
		if err := nativeCall(request()); err != nil {
			return nil, nil, err
		}
		native = append(native, time.Since(t0))
	}
	return warm, native, nil
}
