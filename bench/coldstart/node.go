package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/compute/sandbox"
	"github.com/goaleph/goaleph/internal/compute/sandbox/sandboxtest"
	"github.com/goaleph/goaleph/internal/compute/wasm"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
	"github.com/goaleph/goaleph/internal/devnet"
	"github.com/goaleph/goaleph/message"
)

// The node level (the default): programs published on a devnet core node
// and called through a compute node over loopback HTTP.

type nodeOpts struct {
	only           map[string]bool
	n, warmN, conc int
	dur            time.Duration
	verbose        bool
}

// nodeSubject is a program measured through the node.
type nodeSubject struct {
	name    string
	sandbox bool // on the Debian runtime (sandbox backend), else wasm
	method  string
	path    string // with the query
	body    []byte
	// code returns the code of a new program, distinct for each nonce, and
	// how the PROGRAM message runs it.
	code func(nonce string) ([]byte, programOpts)
	// direct returns the ways of calling the same program without the
	// node, the first one being what warm is compared with; none if
	// there is none.
	direct func(ctx context.Context, b *bench) ([]directCall, func(), error)
}

// programOpts are the fields of a PROGRAM content that vary.
type programOpts struct {
	encoding, entrypoint string
	memory               int
}

// directCall is one way of calling a program without the node; call
// returns the time to the first byte of the answer.
type directCall struct {
	name string
	call func(ctx context.Context) (time.Duration, error)
}

// echoBody is the body of the requests to the echo programs.
var echoBody = []byte(`{"hello":"world"}`)

func nodeSubjects(wasmModule, reactorModule, prog []byte) []nodeSubject {
	return []nodeSubject{
		{
			name: "wasm", method: http.MethodPost, path: "/echo?a=1", body: echoBody,
			code: func(nonce string) ([]byte, programOpts) {
				return withCustomSection(wasmModule, "goaleph-coldstart", nonce),
					programOpts{encoding: "plain", entrypoint: "main.wasm", memory: 128}
			},
			direct: func(ctx context.Context, b *bench) ([]directCall, func(), error) {
				return wasmDirect(ctx, wasmModule, 128, nativeEcho)
			},
		},
		{
			name: "wasm-tiny", method: http.MethodPost, path: "/echo?a=1", body: echoBody,
			code: func(nonce string) ([]byte, programOpts) {
				return wasmtest.CGIModule(tinyBody+nonce, false),
					programOpts{encoding: "plain", entrypoint: "main.wasm", memory: 64}
			},
			direct: func(ctx context.Context, b *bench) ([]directCall, func(), error) {
				return wasmDirect(ctx, wasmtest.CGIModule(tinyBody, false), 64, nativeConstant)
			},
		},
		{
			// A reactor: a Go module whose instances are initialised once
			// and kept, a request a call of its export.
			name: "wasm-reactor", method: http.MethodPost, path: "/echo?a=1", body: echoBody,
			code: func(nonce string) ([]byte, programOpts) {
				return withCustomSection(reactorModule, "goaleph-coldstart", nonce),
					programOpts{encoding: "plain", entrypoint: "main.wasm", memory: 128}
			},
			direct: func(ctx context.Context, b *bench) ([]directCall, func(), error) {
				return wasmDirect(ctx, reactorModule, 128, nativeHandler)
			},
		},
		{
			name: "sandbox", sandbox: true, method: http.MethodPost, path: "/echo?a=1", body: echoBody,
			code: func(nonce string) ([]byte, programOpts) {
				return sandboxtest.ExecZip(prog, nonce), programOpts{encoding: "zip", entrypoint: "bin/server", memory: 128}
			},
			direct: func(ctx context.Context, b *bench) ([]directCall, func(), error) {
				url, err := directServer(ctx)
				if err != nil {
					return nil, nil, err
				}
				return []directCall{{name: "http", call: func(ctx context.Context) (time.Duration, error) {
					return b.do(ctx, http.MethodPost, url+"/echo?a=1", echoBody)
				}}}, func() {}, nil
			},
		},
		{
			// No direct figure: that would be uvicorn run on the host, with
			// the runtime's Python.
			name: "asgi", sandbox: true, method: http.MethodGet, path: "/",
			code: func(nonce string) ([]byte, programOpts) {
				return sandboxtest.Zip(map[string][]byte{"main.py": []byte(fastAPIApp + "# " + nonce + "\n")}),
					programOpts{encoding: "zip", entrypoint: "main:app", memory: 256}
			},
		},
	}
}

// fastAPIApp is the ASGI program, on the runtime's FastAPI.
const fastAPIApp = `from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def index():
    return {"hello": "aleph"}
`

// wasmDirect returns the module run without the node: an instance of a
// wasm backend of its own, called in-process ("wazero": a new module
// instance per call, as in the node), and native, the handler as a Go
// function.
func wasmDirect(ctx context.Context, module []byte, memory int, native func(*compute.Scope) error) ([]directCall, func(), error) {
	f, err := os.CreateTemp("", "coldstart-*.wasm")
	if err != nil {
		return nil, nil, err
	}
	path := f.Name()
	_, err = f.Write(module)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, nil, err
	}
	wb, err := wasm.New(wasm.Config{})
	if err != nil {
		os.Remove(path)
		return nil, nil, err
	}
	cleanup := func() { wb.Close(context.Background()); os.Remove(path) }
	in, err := wb.Prepare(ctx, compute.Spec{ProgramHash: "direct", Interface: compute.WASM, Code: path,
		MemoryMiB: memory, VCPUs: 1, Timeout: 30 * time.Second}) // as the PROGRAMs published

	if err == nil {
		err = in.Start(ctx)
	}
	if err == nil {
		err = in.Ready(ctx)
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	scope := func() *compute.Scope {
		return &compute.Scope{Type: "http", Method: http.MethodPost, Path: "/echo", QueryString: "a=1",
			Headers: [][2]string{{"content-type", "application/json"}, {"user-agent", "coldstart"}},
			Body:    echoBody}
	}
	calls := []directCall{
		{name: "wazero", call: func(ctx context.Context) (time.Duration, error) {
			t0 := time.Now()
			resp, err := in.Call(ctx, scope())
			if err == nil && resp.Status != http.StatusOK {
				err = fmt.Errorf("status %d", resp.Status)
			}
			return time.Since(t0), err
		}},
		{name: "native", call: func(context.Context) (time.Duration, error) {
			t0 := time.Now()
			err := native(scope())
			return time.Since(t0), err
		}},
	}
	return calls, func() { in.Stop(context.Background()); cleanup() }, nil
}

// nativeHandler is the reactor's handler called as a Go function.
func nativeHandler(s *compute.Scope) error {
	req := httptest.NewRequest(s.Method, s.Path+"?"+s.QueryString, bytes.NewReader(s.Body))
	for _, h := range s.Headers {
		req.Header.Add(h[0], h[1])
	}
	w := httptest.NewRecorder()
	wasmtest.Handler.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		return fmt.Errorf("status %d", w.Code)
	}
	return nil
}

// withCustomSection returns module with a custom section appended: the
// same program, other bytes, so another code hash and another compiled
// module.
func withCustomSection(module []byte, name, payload string) []byte {
	var sec []byte
	sec = appendULEB(sec, uint64(len(name)))
	sec = append(sec, name...)
	sec = append(sec, payload...)
	out := append(bytes.Clone(module), 0) // section id 0: custom
	out = appendULEB(out, uint64(len(sec)))
	return append(out, sec...)
}

func appendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// bench is the network under measurement: a core node, an account
// publishing on it, and a compute node.
type bench struct {
	c        *client.Client
	a        *eth.Account
	crnURL   string
	http     *http.Client
	wasmRT   string // STORE of the WASM runtime marker
	debianRT string // STORE of the Debian image; "" without the sandbox
	primed   map[bool]bool
	nonce    int
}

// result holds one subject's figures.
type result struct {
	name              string
	first             time.Duration // 0: not the backend's first program
	cold, known, warm []time.Duration
	direct            []directCall
	directDs          [][]time.Duration
	tp, directTP      tput
}

func nodeLevel(ctx context.Context, o nodeOpts) error {
	want := func(name string) bool { return len(o.only) == 0 || o.only[name] }
	logger := slog.New(slog.DiscardHandler)
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	dir, err := os.MkdirTemp("", "coldstart-node-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	wasmPath, err := wasmtest.Build(ctx)
	if err != nil {
		return err
	}
	wasmModule, err := os.ReadFile(wasmPath)
	if err != nil {
		return err
	}
	fmt.Printf("wasm: Go echo module %s (%.1f MB)\n", wasmPath, float64(len(wasmModule))/1e6)
	var reactorModule []byte
	if want("wasm-reactor") {
		path, err := wasmtest.BuildReactor(ctx)
		if err != nil {
			return err
		}
		if reactorModule, err = os.ReadFile(path); err != nil {
			return err
		}
		fmt.Printf("wasm-reactor: Go echo reactor %s (%.1f MB)\n", path, float64(len(reactorModule))/1e6)
	}

	// The sandbox: bubblewrap, the agent, the test program, the runtime.
	var sb *sandboxFiles
	var prog []byte
	var image string
	if want("sandbox") || want("asgi") {
		sb, prog, image, err = sandboxSetup(ctx, dir)
		if err != nil {
			fmt.Printf("sandbox, asgi: not measured: %v\n", err)
		}
	}

	nw, err := devnet.Start(ctx, devnet.Config{Nodes: 1, Logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		if err := nw.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "devnet stop: %v\n", err)
		}
	}()
	a, err := eth.NewAccount()
	if err != nil {
		return err
	}
	b := &bench{c: client.New(nw.Nodes()[0].APIURL()), a: a, primed: map[bool]bool{},
		http: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
			MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, DisableCompression: true}}}
	if b.wasmRT, err = b.store(ctx, []byte(crn.WASMRuntimeMarker)); err != nil {
		return err
	}
	if sb != nil {
		res, err := b.c.StoreFile(ctx, a, image, client.StoreParams{Sync: true})
		if err != nil {
			return fmt.Errorf("publish the Debian runtime: %w", err)
		}
		if res.Status != client.StatusProcessed {
			return fmt.Errorf("publish the Debian runtime: STORE %s", res.Status)
		}
		b.debianRT = res.Message.ItemHash
	}

	// The compute node: the compute node role, as aleph compute run and
	// the devnet build it.
	rc := crn.RoleConfig{CRN: crn.Config{CoreURL: nw.Nodes()[0].APIURL(), CacheDir: filepath.Join(dir, "crn"),
		MemoryMiB: 1 << 20, VCPUs: 1 << 10, DrainTimeout: 5 * time.Second, Logger: logger},
		Listen: "127.0.0.1:0", NoSandbox: sb == nil}
	if sb != nil {
		rc.SandboxAgent, rc.SandboxStateDir = sb.agent, sb.state
	}
	role, err := crn.NewRole(ctx, rc)
	if err != nil {
		return err
	}
	b.crnURL = role.URL()
	crnCtx, stopCRN := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- role.Run(crnCtx) }()
	defer func() {
		stopCRN()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "compute node: %v\n", err)
		}
	}()

	var results []*result
	for _, sub := range nodeSubjects(wasmModule, reactorModule, prog) {
		if !want(sub.name) || (sub.sandbox && sb == nil) {
			continue
		}
		r, err := b.measure(ctx, sub, o)
		if err != nil {
			return fmt.Errorf("%s: %w", sub.name, err)
		}
		results = append(results, r)
	}
	printTable(results, o.conc)
	for _, r := range results {
		printResult(r, o.conc)
	}
	return nil
}

// sandboxFiles is what the compute node's sandbox backend is built from.
type sandboxFiles struct {
	agent, state string
}

// sandboxSetup returns the sandbox backend's files, the test program and the path
// of the Debian runtime image (built by runtimes/debian-12-python/build.sh,
// once, cached), or why there is none.
func sandboxSetup(ctx context.Context, dir string) (*sandboxFiles, []byte, string, error) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		return nil, nil, "", fmt.Errorf("bwrap is missing (install bubblewrap): %w", err)
	}
	agent, err := sandboxtest.Agent(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	progPath, err := sandboxtest.Program(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	prog, err := os.ReadFile(progPath)
	if err != nil {
		return nil, nil, "", err
	}
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "runtimes", "debian-12-python", "build.sh")
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, script)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, nil, "", fmt.Errorf("%s (needs root once, then cached): %v\n%s", script, err, stderr.Bytes())
	}
	if d := time.Since(t0); d > 5*time.Second {
		fmt.Printf("sandbox: built the Debian runtime in %s\n", d.Round(time.Second))
	}
	image := filepath.Join(strings.TrimSpace(stdout.String()), "rootfs.squashfs")
	if st, err := os.Stat(image); err == nil {
		fmt.Printf("sandbox: Debian runtime %s (%.1f MB); program %s (%.1f MB)\n", image, float64(st.Size())/1e6,
			progPath, float64(len(prog))/1e6)
	}
	state := filepath.Join(dir, "sandbox")
	if err := os.MkdirAll(state, 0o755); err != nil {
		return nil, nil, "", err
	}
	// Fail here, as before, when the backend cannot be built.
	if _, err := sandbox.New(sandbox.Config{Agent: agent, StateDir: state}); err != nil {
		return nil, nil, "", err
	}
	return &sandboxFiles{agent: agent, state: state}, prog, image, nil
}

// store publishes data as a STORE and returns the message hash.
func (b *bench) store(ctx context.Context, data []byte) (string, error) {
	res, err := b.c.Store(ctx, b.a, bytes.NewReader(data), client.StoreParams{Sync: true})
	if err != nil {
		return "", err
	}
	if res.Status != client.StatusProcessed {
		return "", fmt.Errorf("STORE %s", res.Status)
	}
	return res.Message.ItemHash, nil
}

// program publishes a new program of sub (new code, new PROGRAM message)
// and returns the PROGRAM's hash.
func (b *bench) program(ctx context.Context, sub nodeSubject) (string, error) {
	b.nonce++
	data, o := sub.code(fmt.Sprintf("%d-%d", time.Now().UnixNano(), b.nonce))
	code, err := b.store(ctx, data)
	if err != nil {
		return "", err
	}
	rt := b.wasmRT
	if sub.sandbox {
		rt = b.debianRT
	}
	now := time.Now()
	content, _ := json.Marshal(map[string]any{
		"type":        "vm-function",
		"address":     b.a.Address(),
		"time":        float64(now.UnixMilli()) / 1000,
		"allow_amend": false,
		"code":        map[string]any{"encoding": o.encoding, "entrypoint": o.entrypoint, "ref": code, "use_latest": false},
		"runtime":     map[string]any{"ref": rt, "use_latest": false, "comment": "coldstart"},
		"on":          map[string]any{"http": true},
		"environment": map[string]any{"internet": false},
		"resources":   map[string]any{"vcpus": 1, "memory": o.memory, "seconds": 30},
	})
	m, err := message.NewInline(b.a, message.TypeProgram, "TEST", string(content), now)
	if err != nil {
		return "", err
	}
	st, err := b.c.Submit(ctx, m, true)
	if err != nil {
		return "", err
	}
	if st != client.StatusProcessed {
		return "", fmt.Errorf("PROGRAM %s", st)
	}
	return m.ItemHash, nil
}

// do sends a request and returns the time from sending it to the first
// byte of the response; the body is read whole, and an answer other than
// 200 is an error.
func (b *bench) do(ctx context.Context, method, url string, body []byte) (time.Duration, error) {
	var first time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "coldstart")
	t0 := time.Now()
	resp, err := b.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s %s: %d %.200s", method, url, resp.StatusCode, text)
	}
	return first.Sub(t0), nil
}

// call calls the program hash of sub through the node.
func (b *bench) call(ctx context.Context, sub nodeSubject, hash string) (time.Duration, error) {
	return b.do(ctx, sub.method, b.crnURL+"/vm/"+hash+sub.path, sub.body)
}

// stop stops the execution of hash through the owner route.
func (b *bench) stop(ctx context.Context, hash string) error {
	_, err := b.owner(ctx, http.MethodPost, hash, "stop")
	return err
}

// owner sends the owner operation op on the execution of hash and
// returns the answer's body.
func (b *bench) owner(ctx context.Context, method, hash, op string) ([]byte, error) {
	path := "/control/machine/" + hash + "/" + op
	h, err := crn.OwnerHeaders(b.a, crn.DefaultDomain, method, path, time.Minute)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, b.crnURL+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s %s: %d %s", op, hash, resp.StatusCode, text)
	}
	return text, err
}

// printLogs prints the last lines the execution of hash wrote.
func (b *bench) printLogs(ctx context.Context, name, hash string) {
	text, err := b.owner(ctx, http.MethodGet, hash, "logs")
	var lines []struct {
		Message string `json:"MESSAGE"`
	}
	if err == nil {
		err = json.Unmarshal(text, &lines)
	}
	if err != nil {
		fmt.Printf("%s: program logs: %v\n", name, err)
		return
	}
	for _, l := range lines[max(len(lines)-20, 0):] {
		fmt.Printf("%s: program log: %s\n", name, l.Message)
	}
}

func (b *bench) measure(ctx context.Context, sub nodeSubject, o nodeOpts) (*result, error) {
	r := &result{name: sub.name}
	fresh := func() (string, time.Duration, error) {
		hash, err := b.program(ctx, sub)
		if err != nil {
			return "", 0, err
		}
		d, err := b.call(ctx, sub, hash)
		return hash, d, err
	}

	// The backend's first program on this node also fetches its runtime.
	if !b.primed[sub.sandbox] {
		hash, d, err := fresh()
		if err != nil {
			return nil, err
		}
		b.primed[sub.sandbox] = true
		r.first = d
		fmt.Printf("%s: first runtime %37s ms  (1 run: the backend's first program on the node)\n", sub.name, ms(d))
		if err := b.stop(ctx, hash); err != nil {
			return nil, err
		}
	}

	for range o.n {
		hash, d, err := fresh()
		if err != nil {
			return nil, err
		}
		r.cold = append(r.cold, d)
		if err := b.stop(ctx, hash); err != nil {
			return nil, err
		}
		if d, err = b.call(ctx, sub, hash); err != nil {
			return nil, err
		}
		r.known = append(r.known, d)
		if err := b.stop(ctx, hash); err != nil {
			return nil, err
		}
	}
	report(sub.name, "cold", r.cold)
	report(sub.name, "cold, known program", r.known)

	hash, _, err := fresh()
	if err != nil {
		return nil, err
	}
	defer b.stop(context.WithoutCancel(ctx), hash)
	if sub.direct != nil {
		calls, closeDirect, err := sub.direct(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("direct: %w", err)
		}
		defer closeDirect()
		r.direct, r.directDs = calls, make([][]time.Duration, len(calls))
		for _, c := range calls { // the first calls start things up
			if _, err := c.call(ctx); err != nil {
				return nil, fmt.Errorf("direct %s: %w", c.name, err)
			}
		}
	}
	// Warm and direct interleaved, so that both see the same machine.
	for range o.warmN {
		d, err := b.call(ctx, sub, hash)
		if err != nil {
			return nil, err
		}
		r.warm = append(r.warm, d)
		for i, c := range r.direct {
			d, err := c.call(ctx)
			if err != nil {
				return nil, fmt.Errorf("direct %s: %w", c.name, err)
			}
			r.directDs[i] = append(r.directDs[i], d)
		}
	}
	report(sub.name, "warm", r.warm)
	for i, c := range r.direct {
		report(sub.name, "direct, "+c.name, r.directDs[i])
	}

	r.tp = throughput(func() error { _, err := b.call(ctx, sub, hash); return err }, o.conc, o.dur)
	fmt.Printf("%s: throughput, %d clients: %.0f requests/s, %d errors%s\n", sub.name, o.conc, r.tp.rps, r.tp.errors, errText(r.tp.first))
	if r.tp.errors > 0 && o.verbose {
		b.printLogs(ctx, sub.name, hash)
	}
	if len(r.direct) > 0 {
		c := r.direct[0]
		r.directTP = throughput(func() error { _, err := c.call(ctx); return err }, o.conc, o.dur)
		fmt.Printf("%s: throughput direct (%s), %d clients: %.0f requests/s, %d errors%s\n", sub.name, c.name, o.conc,
			r.directTP.rps, r.directTP.errors, errText(r.directTP.first))
	}
	return r, nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return " (first: " + err.Error() + ")"
}

// overhead is warm − direct at p50 and the ratio warm/direct, against the
// first direct call.
func (r *result) overhead() (time.Duration, float64, bool) {
	if len(r.directDs) == 0 {
		return 0, 0, false
	}
	w, d := pct(r.warm, 50), pct(r.directDs[0], 50)
	return w - d, float64(w) / float64(d), true
}

func printTable(rs []*result, conc int) {
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "subject\tfirst runtime\tcold p50\tcold p95\tknown p50\tknown p95\twarm p50\twarm p95\t"+
		"direct p50\tdirect p95\twarm−direct\twarm/direct\tcold/warm\treq/s c%d\terrors\tdirect req/s\t\n", conc)
	for _, r := range rs {
		first := "-"
		if r.first > 0 {
			first = ms(r.first)
		}
		dp50, dp95, ov, ratio, drps := "-", "-", "-", "-", "-"
		if o, q, ok := r.overhead(); ok {
			dp50, dp95 = ms(pct(r.directDs[0], 50)), ms(pct(r.directDs[0], 95))
			dp50 = r.direct[0].name + " " + dp50
			ov, ratio, drps = ms(o), fmt.Sprintf("%.2f", q), fmt.Sprintf("%.0f", r.directTP.rps)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%d\t%s\t\n", r.name, first,
			ms(pct(r.cold, 50)), ms(pct(r.cold, 95)), ms(pct(r.known, 50)), ms(pct(r.known, 95)),
			ms(pct(r.warm, 50)), ms(pct(r.warm, 95)), dp50, dp95, ov, ratio,
			float64(pct(r.cold, 50))/float64(pct(r.warm, 50)), r.tp.rps, r.tp.errors, drps)
	}
	tw.Flush()
	fmt.Println("(milliseconds, from sending the request to the first response byte)")
	fmt.Println()
}

func printResult(r *result, conc int) {
	var f []string
	add := func(k, v string) { f = append(f, k+"="+v) }
	add("level", "node")
	add("subject", r.name)
	if r.first > 0 {
		add("first_runtime_ms", ms(r.first))
	}
	add("cold_p50_ms", ms(pct(r.cold, 50)))
	add("cold_p95_ms", ms(pct(r.cold, 95)))
	add("known_p50_ms", ms(pct(r.known, 50)))
	add("known_p95_ms", ms(pct(r.known, 95)))
	add("warm_p50_ms", ms(pct(r.warm, 50)))
	add("warm_p95_ms", ms(pct(r.warm, 95)))
	for i, c := range r.direct {
		add("direct_"+c.name+"_p50_ms", ms(pct(r.directDs[i], 50)))
		add("direct_"+c.name+"_p95_ms", ms(pct(r.directDs[i], 95)))
	}
	if o, q, ok := r.overhead(); ok {
		add("overhead_p50_ms", ms(o))
		add("warm_direct_ratio", fmt.Sprintf("%.2f", q))
	}
	add("cold_warm_ratio", fmt.Sprintf("%.1f", float64(pct(r.cold, 50))/float64(pct(r.warm, 50))))
	add(fmt.Sprintf("rps_c%d", conc), fmt.Sprintf("%.0f", r.tp.rps))
	add(fmt.Sprintf("errors_c%d", conc), fmt.Sprint(r.tp.errors))
	if len(r.direct) > 0 {
		add(fmt.Sprintf("direct_rps_c%d", conc), fmt.Sprintf("%.0f", r.directTP.rps))
		add(fmt.Sprintf("direct_errors_c%d", conc), fmt.Sprint(r.directTP.errors))
	}
	fmt.Println("RESULT " + strings.Join(f, " "))
}
