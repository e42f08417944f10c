// Command bigadd measures the memory and speed of adding and reading back
// one large file with the files package, by hand:
//
//	go run ./internal/files/bigadd -engine ipfs -size 1073741824
//
// It streams pseudo-random content into Store.Add, reads the file back and
// checks its SHA-256, and prints the throughput and the peak resident set
// size of the process (getrusage ru_maxrss). Run one engine per process so
// that each peak is its own.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/goaleph/goaleph/internal/files"
)

func main() {
	engine := flag.String("engine", "ipfs", "storage engine: storage or ipfs")
	size := flag.Int64("size", 1<<30, "content length in bytes")
	version := flag.Int("cid", 0, "CID version for the ipfs engine")
	dir := flag.String("dir", "", "store directory (default: a new temporary directory, removed at the end)")
	flag.Parse()

	if *dir == "" {
		d, err := os.MkdirTemp("", "bigadd-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	s, err := files.Open(*dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	want := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{42}), *size), want)
	start := time.Now()
	info, err := s.Add(ctx, files.Engine(*engine), src, files.AddOptions{CIDVersion: *version})
	if err != nil {
		log.Fatal(err)
	}
	addTime := time.Since(start)
	addRSS := maxRSS()

	f, err := s.Open(ctx, info.Hash)
	if err != nil {
		log.Fatal(err)
	}
	got := sha256.New()
	start = time.Now()
	n, err := io.CopyBuffer(got, struct{ io.Reader }{f}, make([]byte, 256<<10))
	if err != nil {
		log.Fatal(err)
	}
	readTime := time.Since(start)
	f.Close()
	if n != *size || hex.EncodeToString(got.Sum(nil)) != hex.EncodeToString(want.Sum(nil)) {
		log.Fatalf("read back %d bytes with a different sha256", n)
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mb := float64(*size) / 1e6
	fmt.Printf("engine=%s cid=%d size=%d hash=%s\n", *engine, *version, *size, info.Hash)
	fmt.Printf("add:  %v (%.0f MB/s), peak RSS after add %.1f MiB\n", addTime.Round(time.Millisecond), mb/addTime.Seconds(), addRSS)
	fmt.Printf("read: %v (%.0f MB/s), peak RSS after read %.1f MiB\n", readTime.Round(time.Millisecond), mb/readTime.Seconds(), maxRSS())
	fmt.Printf("go heap: sys %.1f MiB, total allocated %.0f MiB\n", float64(ms.HeapSys)/(1<<20), float64(ms.TotalAlloc)/(1<<20))
	if err := s.Delete(ctx, info.Hash); err != nil {
		log.Fatal(err)
	}
}

// maxRSS is the peak resident set size of the process in MiB.
func maxRSS() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}
