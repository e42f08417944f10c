//go:build unix

package files

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockDir takes an exclusive advisory lock on path, failing at once if
// another Store (in this or another process) holds it. Closing the returned
// file releases the lock.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open store lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("store %s is in use by another process or Store", path)
		}
		return nil, fmt.Errorf("lock store: %w", err)
	}
	return f, nil
}

// linkCount is the number of hard links of a file.
func linkCount(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return ^uint64(0) // unknown: never treat a block as unshared
}

func isTooManyLinks(err error) bool { return errors.Is(err, unix.EMLINK) }
