package devnet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/goaleph/goaleph/internal/compute/sandbox"
)

// DevchainEnv names an environment variable that, when set, is the path of
// the aleph-devchain program a devnet runs (instead of looking for it).
const DevchainEnv = "ALEPH_DEVCHAIN"

// chainProcess is a running aleph-devchain (cmd/aleph-devchain): the dev
// chain runs in a program of its own so that go-ethereum's full node stays
// out of the aleph binary (docs/design/0010-devnet-chain.md).
type chainProcess struct {
	RPC       string // JSON-RPC URL
	FundedKey string // dev account 0, funded at genesis
	Port      int

	cmd   *exec.Cmd
	stdin io.Closer // closing it stops the program
	done  chan struct{}
	err   error // of cmd.Wait, set before done is closed
}

// startChainProcess runs aleph-devchain with its blocks in dir/chain, its
// log in dir/chain.log, on port when free, and waits until it serves.
func startChainProcess(ctx context.Context, dir string, port int, interval time.Duration, log *slog.Logger) (*chainProcess, error) {
	dc, err := findDevchain(log)
	if err != nil {
		return nil, err
	}
	bin := dc.argv[0]
	if port != 0 {
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err != nil {
			log.Warn("devnet: chain RPC port taken, using another", "port", port)
			port = 0
		} else {
			ln.Close()
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "chain.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	args := append(slices.Clone(dc.argv[1:]), "--addr", "127.0.0.1:"+strconv.Itoa(port), "--data-dir", filepath.Join(dir, "chain"),
		"--block-interval", interval.String(), "--stdin-eof-stops")
	cmd := exec.Command(bin, args...)
	cmd.Dir = dc.dir
	cmd.Stderr = logFile
	// Its own process group: a Ctrl-C in the terminal reaches the devnet
	// only, which stops the chain after its nodes (and Close can kill the
	// whole group: go run and the program it runs).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("devnet: start %s: %w", bin, err)
	}
	p := &chainProcess{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
		p.err = cmd.Wait()
		close(p.done)
	}()
	var line string
	select {
	case line = <-lines:
	case <-ctx.Done():
		p.Close()
		return nil, ctx.Err()
	case <-time.After(dc.startTimeout):
		p.Close()
		return nil, fmt.Errorf("devnet: %s did not start within %v (see %s)", bin, dc.startTimeout, logFile.Name())
	}
	var hello struct {
		RPC       string `json:"rpc"`
		FundedKey string `json:"funded_key"`
	}
	if err := json.Unmarshal([]byte(line), &hello); err != nil || hello.RPC == "" {
		p.Close()
		return nil, fmt.Errorf("devnet: %s did not start (see %s): %q", bin, logFile.Name(), line)
	}
	u, err := url.Parse(hello.RPC)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("devnet: dev chain URL %q: %w", hello.RPC, err)
	}
	p.RPC, p.FundedKey = hello.RPC, hello.FundedKey
	p.Port, _ = strconv.Atoi(u.Port())
	return p, nil
}

// Close stops the program (it stops when its standard input closes) and
// waits for it; one that does not stop within 30 s is killed.
func (p *chainProcess) Close() error {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // its process group
		<-p.done
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return fmt.Errorf("devnet: dev chain: %w", p.err)
	}
	return nil
}

// devchainCommand is how to run aleph-devchain.
type devchainCommand struct {
	argv []string // the program and the arguments before its own
	dir  string   // its working directory ("": the current one)
	// startTimeout bounds the wait for its first line: longer when the go
	// tool builds it first.
	startTimeout time.Duration
}

// findDevchain returns how to run the aleph-devchain program:
// $ALEPH_DEVCHAIN, else next to the running executable, else on PATH,
// else (developer mode, `go run ./cmd/aleph devnet` in a checkout) with
// `go run` from the sources, whose executable the Go build cache keeps
// (minutes to build the first time, a second or two afterwards).
func findDevchain(log *slog.Logger) (devchainCommand, error) {
	if p := os.Getenv(DevchainEnv); p != "" {
		return devchainCommand{argv: []string{p}, startTimeout: 2 * time.Minute}, nil
	}
	if p := sandbox.FindProgram("aleph-devchain"); p != "" {
		return devchainCommand{argv: []string{p}, startTimeout: 2 * time.Minute}, nil
	}
	const missing = "the dev chain program aleph-devchain is neither next to this executable nor on PATH"
	src := sandbox.SourceDir()
	if src == "" {
		return devchainCommand{}, errors.New(missing + " (build it with `go build ./cmd/aleph-devchain` in a checkout, or `make build`), or run with --no-chain")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return devchainCommand{}, errors.New(missing + ", and the Go toolchain to build it is not on PATH")
	}
	log.Warn("developer mode: running the dev chain with go run from the sources (minutes the first time, then cached)", "src", src)
	return devchainCommand{argv: []string{goBin, "run", "./cmd/aleph-devchain"}, dir: src, startTimeout: 15 * time.Minute}, nil
}
