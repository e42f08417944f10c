package client_test

import (
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/api"
	"github.com/goaleph/goaleph/internal/node"
)

// genFile is a deterministic io.ReadSeeker of size bytes generated on the
// fly (splitmix64 of the 8-byte word index): large files without memory.
type genFile struct {
	size, off int64
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (g *genFile) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	if rest := g.size - g.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	for i := range p {
		pos := g.off + int64(i)
		p[i] = byte(splitmix(uint64(pos/8)) >> (8 * (pos % 8)))
	}
	g.off += int64(len(p))
	return len(p), nil
}

func (g *genFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += g.off
	case io.SeekEnd:
		offset += g.size
	}
	if offset < 0 {
		return 0, errors.New("negative offset")
	}
	g.off = offset
	return offset, nil
}

// heapWatch samples runtime.MemStats.HeapInuse until stopped and keeps
// the peak.
type heapWatch struct {
	peak atomic.Uint64
	stop chan struct{}
	wg   sync.WaitGroup
}

func watchHeap() *heapWatch {
	h := &heapWatch{stop: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapWatch) Stop() uint64 {
	close(h.stop)
	h.wg.Wait()
	return h.peak.Load()
}

// hashWriter is an io.Writer that hashes what it gets.
type hashWriter struct{ hash.Hash }

// TestLargeFileMemory stores and downloads a 200 MiB file and checks that
// the heap in use (client and in-process node together) stays below 64
// MiB: neither side may buffer the file.
func TestLargeFileMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MiB through a node; skipped with -short")
	}
	const size = 200 << 20
	const limit = 64 << 20
	limits := api.DefaultLimits
	limits.MaxFileSize = 512 << 20
	c := client.New(startNode(t, node.Config{Limits: limits}))
	ctx, a := ctxT(t), ethtest.Account(t)

	want := sha256.New()
	io.Copy(want, &genFile{size: size})

	runtime.GC()
	h := watchHeap()
	var sent int64
	res, err := c.Store(ctx, a, &genFile{size: size}, client.StoreParams{Sync: true, Progress: func(d, _ int64) { sent = d }})
	upPeak := h.Stop()
	mustStatus(t, res, err, client.StatusProcessed)
	if sent != size {
		t.Fatalf("progress says %d bytes sent", sent)
	}
	t.Logf("upload: peak heap in use %.1f MiB", float64(upPeak)/(1<<20))

	runtime.GC()
	h = watchHeap()
	got := hashWriter{sha256.New()}
	n, err := c.Download(ctx, res.FileHash, got)
	downPeak := h.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("download: peak heap in use %.1f MiB", float64(downPeak)/(1<<20))
	if n != size || string(got.Sum(nil)) != string(want.Sum(nil)) {
		t.Fatalf("downloaded %d bytes, hash differs", n)
	}
	if upPeak > limit || downPeak > limit {
		t.Fatalf("peak heap in use %d / %d bytes, limit %d", upPeak, downPeak, limit)
	}
}
