package packer_test

import (
	"bufio"
	"context"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/params"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/testbuild"
	"github.com/goaleph/goaleph/message"
)

// alephBinary builds cmd/aleph (once per change of the sources).
func alephBinary(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := testbuild.Build(ctx, testbuild.Target{Name: "aleph", Pkg: "./cmd/aleph", CacheDir: "aleph",
		Inputs: []string{"go.mod", "go.sum", "cmd", "internal", "message", "client", "chain", "contracts", "wasmguest"}})
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// process is an `aleph node run` child process packing on the bench's chain.
type process struct {
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	logs []string
	done chan struct{}
}

// run starts `aleph node run` on the bench's data directory and chain and
// waits until its API answers.
func (b *bench) run(bin string, extra ...string) *process {
	t := b.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"node", "run", "--no-p2p", "--data-dir", b.dataDir, "--listen", addr,
		"--eth-rpc", b.chain.URL(), "--eth-sync-contract", b.contract.Hex(), "--eth-start-height", "0",
		"--eth-confirmations", "1", "--eth-poll-interval", "100ms", "--eth-commit-delay", "1s",
		"--eth-packer-max-messages", "4"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "ALEPH_ETH_PACKER_KEY="+b.chain.Accounts()[packerAccount].KeyHex())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, url: "http://" + addr, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs = append(p.logs, sc.Text())
			p.mu.Unlock()
		}
		cmd.Wait()
	}()
	t.Cleanup(func() { p.kill(t) })
	deadline := time.Now().Add(waitTimeout)
	for {
		resp, err := http.Get(p.url + "/api/v0/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("aleph node run exited:\n%s", p.tail(30))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("aleph node run did not answer:\n%s", p.tail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *process) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs[max(0, len(p.logs)-n):], "\n")
}

// kill sends SIGKILL and waits until the process is gone.
func (p *process) kill(t *testing.T) {
	_ = p.cmd.Process.Kill() // os.ErrProcessDone once it is gone
	select {
	case <-p.done:
	case <-time.After(waitTimeout):
		t.Errorf("process %d still running after SIGKILL", p.cmd.Process.Pid)
	}
}

// TestSIGKILL: an `aleph node run` process is killed with SIGKILL while it
// anchors (batches of 4 messages): at the moment one of its transactions
// is signed, recorded and broadcast but not mined, which the test sees
// from outside (the account's pending nonce is ahead of its mined one; the
// chain holds the packer's transactions back meanwhile). Restarted on the
// same data directory, it anchors every message exactly once: each posted
// message is in exactly one archive of the SyncEvents on chain, confirmed
// by that event's transaction. With "pool lost" the chain also forgets the
// pending transaction at the kill, so the restart must broadcast the
// recorded transaction again.
func TestSIGKILL(t *testing.T) {
	bin := alephBinary(t)
	for _, poolLost := range []bool{false, true} {
		t.Run(map[bool]string{false: "pool kept", true: "pool lost"}[poolLost], func(t *testing.T) {
			b := newBench(t)
			from := b.chain.Accounts()[packerAccount].Address
			// Never replaced during the test: the kill point stays the
			// first recorded transaction.
			p := b.run(bin, "--eth-bump-blocks", "1000000")
			api := client.New(p.url)
			msgs := signed(t, 10)
			postAll(t, api, msgs[:4])
			// The first batch is mined as usual.
			waitFor(t, "the first batch mined", func() bool {
				n, err := b.chain.Client().NonceAt(b.ctx, from, nil)
				return err == nil && n >= 1
			})
			b.chain.SetMinTip(big.NewInt(1000 * params.GWei)) // hold the packer's transactions back
			postAll(t, api, msgs[4:])
			waitFor(t, "a transaction broadcast and not mined", func() bool {
				pending, err1 := b.chain.Client().PendingNonceAt(b.ctx, from)
				mined, err2 := b.chain.Client().NonceAt(b.ctx, from, nil)
				return err1 == nil && err2 == nil && pending > mined
			})
			p.kill(t)
			if poolLost {
				b.chain.Rollback()
			}
			b.chain.SetMinTip(common.Big0)
			r := &running{chain: b.chain, api: client.New(b.run(bin, "--eth-bump-blocks", "1000000").url)}
			confs := r.waitConfirmed(t, msgs)
			if n := b.checkAnchored(r, msgs, confs); n < 3 {
				t.Fatalf("%d SyncEvents for 10 messages in batches of 4, want at least 3", n)
			}
		})
	}
}

// postAll submits msgs in order, each processed before the next.
func postAll(t *testing.T, api *client.Client, msgs []*message.Message) {
	t.Helper()
	for i, m := range msgs {
		if st, err := api.Submit(context.Background(), m, true); err != nil || st != client.StatusProcessed {
			t.Fatalf("post %d: %v, %v", i, st, err)
		}
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
