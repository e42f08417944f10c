package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestDirSize(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "b", "y"), make([]byte, 234), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := dirSize(dir); got != 1234 {
		t.Fatalf("dirSize = %d, want 1234", got)
	}
}

func TestProcMemAndSockets(t *testing.T) {
	pid := os.Getpid()
	rss, hwm, err := procMem(pid)
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || hwm < rss {
		t.Fatalf("rss %d, hwm %d: want 0 < rss ≤ hwm", rss, hwm)
	}
	before := socketFDs(pid)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got := socketFDs(pid); got != before+3 {
		t.Fatalf("socket fds %d with a listener and a connection, want %d", got, before+3)
	}
	c.Close()
	s.Close()
	l.Close()
	if got := socketFDs(pid); got != before {
		t.Fatalf("socket fds %d after closing, want %d", got, before)
	}
}

func TestParseRows(t *testing.T) {
	got, err := parseRows("1, 5,8")
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 5 || got[2] != 8 {
		t.Fatalf("parseRows = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "9", "x"} {
		if _, err := parseRows(bad); err == nil {
			t.Fatalf("parseRows(%q) accepted", bad)
		}
	}
}

func TestNoise(t *testing.T) {
	b, err := io.ReadAll(newNoise(100_003))
	if err != nil || len(b) != 100_003 {
		t.Fatalf("read %d bytes, %v; want 100003", len(b), err)
	}
	if bytes.Equal(b[:4096], b[4096:8192]) || bytes.Count(b, []byte{0}) > 2000 {
		t.Fatal("noise repeats or is mostly zeros")
	}
}
