package main

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// snapshot is what one measurement of the node process and its data dir
// found.
type snapshot struct {
	Disk  int64 `json:"disk_bytes"`
	RSS   int64 `json:"rss_bytes"`
	HWM   int64 `json:"hwm_bytes"`
	Conns int   `json:"socket_fds"`
}

// dirSize is the total size of the regular files under dir, like du -b.
// Files that vanish during the walk are skipped.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// procMem reads VmRSS and VmHWM of pid from /proc/<pid>/status, in bytes.
func procMem(pid int) (rss, hwm int64, err error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &rss
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &hwm
		default:
			continue
		}
		fields := strings.Fields(line)
		if len(fields) >= 2 {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			*dst = kb * 1024
		}
	}
	return rss, hwm, sc.Err()
}

// socketFDs counts the file descriptors of pid that are sockets (TCP
// listeners and connections, and any Unix sockets).
func socketFDs(pid int) int {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return -1
	}
	n := 0
	for _, e := range ents {
		if t, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(t, "socket:") {
			n++
		}
	}
	return n
}

// measure takes a snapshot of pid and dir.
func measure(pid int, dir string) snapshot {
	rss, hwm, _ := procMem(pid)
	return snapshot{Disk: dirSize(dir), RSS: rss, HWM: hwm, Conns: socketFDs(pid)}
}

// sampler records the peak VmRSS and data dir size (every 50 ms) and the
// peak socket count (every 250 ms) of a process until stopped. VmHWM is the
// lifetime peak, so a row attached to a long-running node needs this.
type sampler struct {
	mu                sync.Mutex
	peakRSS, peakDisk int64
	peakConns         int
	stop              chan struct{}
	done              chan struct{}
}

func startSampler(pid int, dir string) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			rss, _, _ := procMem(pid)
			disk := dirSize(dir)
			conns := -1
			if i%5 == 0 {
				conns = socketFDs(pid)
			}
			s.mu.Lock()
			s.peakRSS = max(s.peakRSS, rss)
			s.peakDisk = max(s.peakDisk, disk)
			s.peakConns = max(s.peakConns, conns)
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops the sampler and returns its peaks.
func (s *sampler) end() (rss, disk int64, conns int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakRSS, s.peakDisk, s.peakConns
}

// mib formats a byte count in MiB.
func mib(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB" }
