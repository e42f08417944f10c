package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The sandbox's root (docs/design/0006-sandbox.md): bubblewrap starts the
// agent in a root of its own holding <dir>/lower, the runtime bound
// read-only, and <dir>/rw, a tmpfs bounded in size, beside the sandbox's
// other mounts (/proc, /dev, /tmp, /run, /opt/code, volumes), with every
// capability of the sandbox's user namespace. overlayRoot builds the
// program's root from them and dropCaps gives the capabilities up before
// anything else runs. The overlay does its copy-ups with its mounter's
// credentials (mode-0 work directory, owners of copied files): it needs
// more than CAP_SYS_ADMIN at mount time.

// overlayRoot mounts an overlay of dir/lower under dir/rw (the program's
// writes go to the tmpfs, never to the runtime), moves every other mount of
// the current root into it, makes it the root and detaches the old one,
// and forbids new user namespaces in the sandbox's.
func overlayRoot(dir string) error {
	lower, rw := filepath.Join(dir, "lower"), filepath.Join(dir, "rw")
	upper, work, root := rw+"/upper", rw+"/work", rw+"/root"
	for _, d := range []string{upper, work, root} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	// The overlay's root directory is the upper one: give it the
	// runtime's mode and, when mapped in the namespace, owner.
	if st, err := os.Stat(lower); err == nil {
		os.Chmod(upper, st.Mode().Perm())
		if s, ok := st.Sys().(*syscall.Stat_t); ok {
			os.Lchown(upper, int(s.Uid), int(s.Gid))
		}
	}
	// userxattr: an overlay mounted in a user namespace keeps its
	// whiteouts and opaque directories in user.overlay.* attributes.
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work + ",userxattr"
	if err := unix.Mount("overlay", root, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting the root overlay: %w", err)
	}
	mounts, err := topMounts()
	if err != nil {
		return err
	}
	rootFd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rootFd)
	for _, m := range mounts {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			continue
		}
		if err := moveInto(rootFd, m); err != nil {
			return err
		}
	}
	if err := pivot(root); err != nil {
		return err
	}
	// What bubblewrap's --disable-userns gave: no user namespace (in which
	// the program would have every capability again) can be made in the
	// sandbox's. The sysctl is the user namespace's own; only
	// CAP_SYS_RESOURCE in it may write it.
	if err := os.WriteFile("/proc/sys/user/max_user_namespaces", []byte("0\n"), 0); err != nil {
		return fmt.Errorf("disabling user namespaces: %w", err)
	}
	return nil
}

// topMounts returns the mount points of the mounts directly on the
// current root, in mount order.
func topMounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type mount struct{ id, parent, point string }
	var all []mount
	rootID := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mount-point options…
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			return nil, fmt.Errorf("mountinfo line %q", sc.Text())
		}
		m := mount{fields[0], fields[1], unescape(fields[4])}
		if m.point == "/" {
			rootID = m.id // the last one is on top
		}
		all = append(all, m)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if rootID == "" {
		return nil, errors.New("no root in mountinfo")
	}
	var out []string
	for _, m := range all {
		if m.parent == rootID && m.point != "/" {
			out = append(out, m.point)
		}
	}
	return out, nil
}

// unescape decodes mountinfo's octal escapes (\040 for a space…).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// moveInto moves the mount at point (with the mounts under it) to the same
// path in the directory rootFd. The path is resolved as if rootFd were the
// root: a symbolic link of the runtime cannot send a mount elsewhere.
func moveInto(rootFd int, point string) error {
	fd, err := unix.Openat2(rootFd, strings.TrimPrefix(point, "/"), &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return fmt.Errorf("mount point %s in the runtime: %w", point, err)
	}
	defer unix.Close(fd)
	if err := unix.MoveMount(unix.AT_FDCWD, point, fd, "", unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("moving %s into the root: %w", point, err)
	}
	return nil
}

// pivot makes root the root of the mount namespace and detaches the old
// one (runc's way: pivot_root(".", ".") stacks the old root on the new).
func pivot(root string) error {
	old, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(old)
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Fchdir(old); err != nil {
		return err
	}
	// Unmounting must not propagate anywhere.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("old root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %w", err)
	}
	return unix.Chdir("/")
}

// dropCaps gives up every capability of every thread of the agent, for
// good: bounding set, ambient, inheritable, permitted and effective. The
// program it starts then has none, even as uid 0 of its namespace.
// Capabilities belong to threads, hence AllThreadsSyscall (which needs
// CGO_ENABLED=0, as the agent is built).
func dropCaps() error {
	for c := 0; c < 64; c++ {
		r, _, e := unix.Syscall(unix.SYS_PRCTL, unix.PR_CAPBSET_READ, uintptr(c), 0)
		if e == unix.EINVAL {
			break // past the last capability
		}
		if e != 0 || r == 0 {
			continue // not in the bounding set
		}
		if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); e != 0 {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, e)
		}
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); e != 0 {
		return fmt.Errorf("clearing ambient capabilities: %w", e)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData // all zero
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	return nil
}
