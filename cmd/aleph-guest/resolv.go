package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// writeResolvConf makes path (the root's /etc/resolv.conf) name only the
// resolver at nameserver: in a sandbox with internet, slirp4netns's
// (10.0.2.3), which forwards to the host's. A symbolic link there (to a
// systemd-resolved file, say) is replaced, not followed. The root is the
// sandbox's writable overlay (overlayRoot), so the runtime is not touched.
func writeResolvConf(path, nameserver string) error {
	if _, err := netip.ParseAddr(nameserver); err != nil {
		return fmt.Errorf("nameserver %q: %w", nameserver, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "# written by aleph-guest: the sandbox's user-mode network\nnameserver %s\n", nameserver); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
