package files

import (
	"context"
	"io"
	"math/rand/v2"
	"testing"
)

// benchSize is the content length of one benchmark add.
const benchSize = 64 << 20

// randReader streams pseudo-random bytes without buffering them.
func randReader(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)}), n)
}

func benchmarkAdd(b *testing.B, engine Engine, version int) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.SetBytes(benchSize)
	b.ReportAllocs()
	var seed uint64
	for b.Loop() {
		seed++
		info, err := s.Add(ctx, engine, randReader(seed, benchSize), AddOptions{CIDVersion: version})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Delete(ctx, info.Hash); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkAddNative measures streaming adds of 64 MiB with the native engine.
func BenchmarkAddNative(b *testing.B) { benchmarkAdd(b, Native, 0) }

// BenchmarkAddIPFS measures streaming adds of 64 MiB with the IPFS engine (CIDv0).
func BenchmarkAddIPFS(b *testing.B) { benchmarkAdd(b, IPFS, 0) }

// BenchmarkAddIPFSv1 is BenchmarkAddIPFS with CIDv1 (raw leaves).
func BenchmarkAddIPFSv1(b *testing.B) { benchmarkAdd(b, IPFS, 1) }

// BenchmarkCID measures computing a CIDv0 without storing.
func BenchmarkCID(b *testing.B) {
	b.SetBytes(benchSize)
	var seed uint64
	for b.Loop() {
		seed++
		if _, err := CID(randReader(seed, benchSize), 0); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkRead(b *testing.B, engine Engine) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	info, err := s.Add(ctx, engine, randReader(1, benchSize), AddOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	buf := make([]byte, 256<<10)
	for b.Loop() {
		f, err := s.Open(ctx, info.Hash)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkReadNative measures reading a 64 MiB native file (page cache warm).
func BenchmarkReadNative(b *testing.B) { benchmarkRead(b, Native) }

// BenchmarkReadIPFS measures reading a 64 MiB IPFS file through the DAG reader (page cache warm).
func BenchmarkReadIPFS(b *testing.B) { benchmarkRead(b, IPFS) }
