package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/guest"
)

//go:embed asgi/launcher.py
var launcherPy []byte

// settings are the agent's own, from flags.
type settings struct {
	codeDir        string        // where the code is (default /opt/code)
	httpAddr       string        // where the program serves HTTP (127.0.0.1:8080)
	startupTimeout time.Duration // how long a request waits for the program to listen
	stopTimeout    time.Duration // SIGTERM to SIGKILL at halt
	// dataMiB, if positive, is the program's RLIMIT_DATA: past it its
	// allocations fail (it dies at once) rather than the VM thrashing
	// until the kernel's OOM killer acts.
	dataMiB int
	// listenWait, if positive, makes Configure answer once the program
	// accepts connections (or exits, or listenWait passes), so that its
	// start is not counted in its first request's time.
	listenWait time.Duration
}

// agent is the guest's Handler: it runs one program and forwards requests
// to it over HTTP.
type agent struct {
	settings
	log    func(stream, text string)
	reaper *reaper
	client *http.Client
	// beforeConfigure, if set, readies the isolation for the program
	// (a micro VM mounts its code, sets its clock and network).
	beforeConfigure func(cfg *guest.Config, codeDir string) error

	mu   sync.Mutex
	proc *process
	tmp  string // the launcher's directory, removed at halt
}

// process is the running program.
type process struct {
	pid    int
	exited chan struct{} // closed once reaped
	status syscall.WaitStatus
	output sync.WaitGroup // the readers of stdout and stderr
}

func newAgent(s settings, r *reaper, log func(stream, text string)) *agent {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableCompression:  true, // pass bodies as the program wrote them
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	return &agent{
		settings: s,
		log:      log,
		reaper:   r,
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

var _ guest.Handler = (*agent)(nil)

// Configure puts the code in place and starts the program.
func (a *agent) Configure(ctx context.Context, cfg *guest.Config) error {
	if a.beforeConfigure != nil {
		if err := a.beforeConfigure(cfg, a.codeDir); err != nil {
			return err
		}
	}
	if err := a.installCode(cfg); err != nil {
		return err
	}
	var argv []string
	switch cfg.Interface {
	case compute.Executable:
		if !filepath.IsLocal(cfg.Entrypoint) {
			return fmt.Errorf("entrypoint %q is not a path inside the code", cfg.Entrypoint)
		}
		path := filepath.Join(a.codeDir, cfg.Entrypoint)
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("entrypoint: %w", err)
		}
		if st.Mode()&0o111 == 0 {
			// As the reference does; a read-only code image must ship it
			// executable already.
			os.Chmod(path, st.Mode()|0o111)
		}
		argv = []string{path}
	case compute.ASGI:
		if cfg.Entrypoint == "" {
			return errors.New("asgi program without entrypoint")
		}
		argv = append([]string(nil), cfg.Launcher...)
		if len(argv) == 0 {
			dir, err := os.MkdirTemp("", "aleph-asgi-")
			if err != nil {
				return err
			}
			a.tmp = dir
			path := filepath.Join(dir, "launcher.py")
			if err := os.WriteFile(path, launcherPy, 0o644); err != nil {
				return err
			}
			argv = []string{"python3", path}
		}
		argv = append(argv, cfg.Entrypoint)
	default:
		return fmt.Errorf("interface %q not supported", cfg.Interface)
	}

	if a.dataMiB > 0 {
		// The agent itself, in a child, sets the limit and execs the
		// program: Go sets no rlimit between fork and exec.
		argv = append([]string{"/proc/self/exe", limitedExec, strconv.Itoa(a.dataMiB), "--"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = a.codeDir
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(cfg.Variables))
	for k := range cfg.Variables {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+cfg.Variables[k])
	}
	cmd.Env = append(cmd.Env, "ALEPH_HTTP_ADDR="+a.httpAddr, "ALEPH_INIT_VERSION="+guest.Version)
	// Its own process group, so that halt reaches what it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	p := &process{exited: make(chan struct{})}
	var closers []*os.File
	for _, stream := range []string{"stdout", "stderr"} {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		closers = append(closers, w)
		if stream == "stdout" {
			cmd.Stdout = w
		} else {
			cmd.Stderr = w
		}
		p.output.Add(1)
		go a.forwardLines(r, stream, &p.output)
	}
	exit, err := a.reaper.start(cmd)
	for _, w := range closers {
		w.Close() // the program holds its copies
	}
	if err != nil {
		return fmt.Errorf("starting %s: %w", argv[0], err)
	}
	p.pid = cmd.Process.Pid
	go func() {
		p.status = <-exit
		cmd.Process.Release()
		close(p.exited)
		a.log("stderr", "[aleph-guest] program exited: "+describe(p.status))
	}()
	a.mu.Lock()
	a.proc = p
	a.mu.Unlock()
	if a.listenWait > 0 {
		a.awaitListening(ctx, p)
	}
	return nil
}

// awaitListening waits until the program accepts a connection on its
// address, exits, or listenWait passes.
func (a *agent) awaitListening(ctx context.Context, p *process) {
	deadline := time.Now().Add(a.listenWait)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", a.httpAddr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.exited:
			return
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// limitedExec is the agent's argument that makes it set RLIMIT_DATA and
// exec the rest: aleph-guest limited-exec <MiB> -- argv…
const limitedExec = "limited-exec"

// runLimited is the agent as that child.
func runLimited(args []string) int {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintln(os.Stderr, "aleph-guest: limited-exec <MiB> -- argv…")
		return 2
	}
	mib, err := strconv.Atoi(args[0])
	if err != nil || mib <= 0 {
		fmt.Fprintln(os.Stderr, "aleph-guest: limited-exec: bad size", args[0])
		return 2
	}
	lim := &syscall.Rlimit{Cur: uint64(mib) << 20, Max: uint64(mib) << 20}
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, lim); err != nil {
		fmt.Fprintln(os.Stderr, "aleph-guest: RLIMIT_DATA:", err)
		return 1
	}
	path, err := exec.LookPath(args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "aleph-guest:", err)
		return 127
	}
	err = syscall.Exec(path, args[2:], os.Environ())
	fmt.Fprintln(os.Stderr, "aleph-guest: exec:", err)
	return 126
}

// configured tells whether a program was started.
func (a *agent) configured() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.proc != nil
}

func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("status %d", ws.ExitStatus())
}

// forwardLines sends each line of r to the host; long lines are cut.
func (a *agent) forwardLines(r *os.File, stream string, wg *sync.WaitGroup) {
	defer wg.Done()
	defer r.Close()
	br := bufio.NewReaderSize(r, 16<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			a.log(stream, strings.TrimRight(string(line), "\r\n"))
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// installCode writes code sent inline: the entrypoint's bytes ("plain") or
// a zip archive. Code mounted by the backend (squashfs, a directory) is
// already in codeDir.
func (a *agent) installCode(cfg *guest.Config) error {
	if len(cfg.Code) == 0 {
		return nil
	}
	if err := os.MkdirAll(a.codeDir, 0o755); err != nil {
		return err
	}
	switch cfg.Encoding {
	case "plain":
		name := cfg.Entrypoint
		if cfg.Interface == compute.ASGI {
			// "module:app" → module.py
			name, _, _ = strings.Cut(name, ":")
			name = strings.ReplaceAll(name, ".", "/") + ".py"
		}
		if !filepath.IsLocal(name) {
			return fmt.Errorf("entrypoint %q is not a path inside the code", name)
		}
		return os.WriteFile(filepath.Join(a.codeDir, name), cfg.Code, 0o755)
	case "zip":
		return unzip(cfg.Code, a.codeDir)
	default:
		return fmt.Errorf("inline code with encoding %q", cfg.Encoding)
	}
}

// unzip extracts an archive into dir, refusing paths that leave it.
func unzip(b []byte, dir string) error {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return fmt.Errorf("code archive: %w", err)
	}
	for _, f := range zr.File {
		if !filepath.IsLocal(f.Name) {
			return fmt.Errorf("code archive: path %q leaves the code directory", f.Name)
		}
		path := filepath.Join(dir, f.Name)
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
			continue
		}
		if !f.Mode().IsRegular() {
			continue // no symlinks or devices from archives
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := extract(f, path); err != nil {
			return err
		}
	}
	return nil
}

func extract(f *zip.File, path string) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, f.Mode().Perm()|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, rc); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// maxBody bounds a response body read from the program: it must fit a frame.
const maxBody = guest.MaxFrameSize - 64<<10

// Call forwards one request to the program's HTTP server, retrying while
// the program is not listening yet (as the reference runtime does) up to
// startupTimeout; a program that never listens gets a 503 page.
func (a *agent) Call(ctx context.Context, s *compute.Scope) (*compute.Response, error) {
	if s.Type != "http" {
		return nil, fmt.Errorf("scope type %q is not supported by this agent", s.Type)
	}
	a.mu.Lock()
	p := a.proc
	a.mu.Unlock()
	if p == nil {
		return nil, errors.New("no program running")
	}
	path := s.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: "http", Host: a.httpAddr, Path: path, RawQuery: s.QueryString}
	deadline := time.Now().Add(a.startupTimeout)
	for attempt := 1; ; attempt++ {
		resp, err := a.forward(ctx, u, s)
		if err == nil {
			return resp, nil
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" || ctx.Err() != nil {
			return nil, err
		}
		select {
		case <-p.exited:
			return unavailable("The program has exited."), nil
		default:
		}
		// Short waits first: a program that starts listening soon after
		// its first request (the common cold start) is answered within
		// a few ms of it; a slow one is retried less often.
		wait := min(time.Duration(attempt)*5*time.Millisecond, 250*time.Millisecond)
		if time.Now().Add(wait).After(deadline) {
			return unavailable("The program did not start listening on port 8080."), nil
		}
		select {
		case <-time.After(wait):
		case <-p.exited:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func unavailable(why string) *compute.Response {
	return &compute.Response{
		Status:  503,
		Headers: [][2]string{{"content-type", "text/html; charset=utf-8"}},
		Body:    []byte("<!doctype html><title>Loading</title><p>Program unavailable. " + why + "</p>\n"),
	}
}

func (a *agent) forward(ctx context.Context, u *url.URL, s *compute.Scope) (*compute.Response, error) {
	method := s.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(s.Body))
	if err != nil {
		return nil, err
	}
	for _, h := range s.Headers {
		switch strings.ToLower(h[0]) {
		case "host":
			req.Host = h[1]
		case "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade":
			// Hop by hop; the body is whole.
		default:
			req.Header.Add(h[0], h[1])
		}
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading the program's response: %w", err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("response body larger than %d bytes", maxBody)
	}
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	out := &compute.Response{Status: resp.StatusCode, Body: body}
	for _, k := range names {
		for _, v := range resp.Header[k] {
			out.Headers = append(out.Headers, [2]string{strings.ToLower(k), v})
		}
	}
	return out, nil
}

// Halt stops the program: SIGTERM to its process group, SIGKILL after
// stopTimeout, then waits for its last output lines (briefly).
func (a *agent) Halt(ctx context.Context) error {
	a.mu.Lock()
	p := a.proc
	tmp := a.tmp
	a.mu.Unlock()
	defer func() {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}()
	if p == nil {
		return nil
	}
	syscall.Kill(-p.pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(a.stopTimeout):
		a.log("stderr", "[aleph-guest] program still running after SIGTERM, killing it")
	}
	// Also the group's stragglers, once the program is gone.
	syscall.Kill(-p.pid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("program %d survived SIGKILL", p.pid)
	}
	done := make(chan struct{})
	go func() { p.output.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		// A descendant outside the group keeps the pipes open.
	}
	return nil
}
