package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteResolvConf(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "stub-resolv.conf")
	if err := os.WriteFile(target, []byte("nameserver 127.0.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, prepare := range map[string]func(p string) error{
		"absent":  func(p string) error { return nil },
		"file":    func(p string) error { return os.WriteFile(p, []byte("nameserver 192.0.2.1\n"), 0o644) },
		"symlink": func(p string) error { return os.Symlink(target, p) },
	} {
		p := filepath.Join(dir, name, "etc", "resolv.conf")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := prepare(p); err != nil {
			t.Fatal(err)
		}
		if err := writeResolvConf(p, "10.0.2.3"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := "# written by aleph-guest: the sandbox's user-mode network\nnameserver 10.0.2.3\n"; string(b) != want {
			t.Errorf("%s: resolv.conf %q, want %q", name, b, want)
		}
		if st, err := os.Lstat(p); err != nil || !st.Mode().IsRegular() {
			t.Errorf("%s: resolv.conf is not a regular file: %v %v", name, st.Mode(), err)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "nameserver 127.0.0.53\n" {
		t.Errorf("the symbolic link's target was written: %q", b)
	}
	if err := writeResolvConf(filepath.Join(dir, "resolv.conf"), "10.0.2.3\nnameserver 1.1.1.1"); err == nil {
		t.Error("a nameserver that is not an address was accepted")
	}
}
