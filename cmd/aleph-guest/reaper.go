package main

import (
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// reaper waits for every child of the agent, the program and the orphans
// that the kernel hands to PID 1 (or to the agent as a child subreaper), so
// that none stays a zombie. The program's exit status goes to whoever
// started it: exec.Cmd.Wait cannot be used beside a wait4(-1) loop, which
// would take the status first.
type reaper struct {
	mu    sync.Mutex // held while starting a child, so its exit cannot be reaped unclaimed
	watch map[int]chan syscall.WaitStatus
	stop  chan struct{}
	done  chan struct{}
}

func newReaper() *reaper {
	r := &reaper{
		watch: map[int]chan syscall.WaitStatus{},
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGCHLD)
	go func() {
		defer close(r.done)
		defer signal.Stop(sig)
		// The tick is a safety net: SIGCHLDs coalesce, and one arriving
		// between Notify and the first wait is not lost either way.
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-sig:
			case <-t.C:
			case <-r.stop:
				return
			}
			r.reap()
		}
	}()
	return r
}

// start starts cmd and returns a channel that receives its exit status.
// cmd's standard streams must be files or nil (no copying goroutines),
// and cmd.Wait must not be called.
func (r *reaper) start(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.watch[cmd.Process.Pid] = ch
	return ch, nil
}

func (r *reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		if ch, ok := r.watch[pid]; ok {
			ch <- ws
			delete(r.watch, pid)
		}
	}
}

func (r *reaper) close() {
	close(r.stop)
	<-r.done
}
