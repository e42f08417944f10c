package microvm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// guestModules are the kernel modules the guest loads (Debian builds them
// as modules): the virtio transport of -M microvm, its disks, serial port
// and network card, and the file systems of the root.
var guestModules = []string{"virtio_mmio", "virtio_blk", "virtio_console", "virtio_net", "squashfs", "overlay"}

// findKernel returns the newest /boot/vmlinuz-* and its modules directory.
func findKernel() (kernel, modules string, err error) {
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	sort.Strings(ks)
	for i := len(ks) - 1; i >= 0; i-- {
		v := strings.TrimPrefix(filepath.Base(ks[i]), "vmlinuz-")
		m := filepath.Join("/lib/modules", v)
		if _, err := os.Stat(filepath.Join(m, "modules.dep")); err == nil {
			return ks[i], m, nil
		}
	}
	return "", "", ErrNoKernel
}

// moduleOrder resolves names (without .ko) to their files under dir
// (kernel/…), dependencies first, from modules.dep; modules built into the
// kernel are left out.
func moduleOrder(dir string, names []string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	deps := map[string][]string{}
	byName := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[mod] = strings.Fields(rest)
		n := strings.TrimSuffix(path.Base(mod), ".ko")
		byName[strings.ReplaceAll(n, "-", "_")] = mod
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	builtin, _ := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	var order []string
	seen := map[string]bool{}
	var visit func(m string)
	visit = func(m string) {
		if seen[m] {
			return
		}
		seen[m] = true
		for _, d := range deps[m] {
			visit(d)
		}
		order = append(order, m)
	}
	for _, n := range names {
		m, ok := byName[n]
		if !ok {
			if bytes.Contains(builtin, []byte("/"+n+".ko\n")) {
				continue
			}
			return nil, fmt.Errorf("microvm: kernel module %s not found in %s", n, dir)
		}
		visit(m)
	}
	return order, nil
}

// buildInitramfs writes, in cacheDir, an uncompressed initramfs (newc
// cpio) holding the agent as /init and the guest's modules with their load
// order, and returns its path. The name is a hash of its inputs: a second
// call finds it.
func buildInitramfs(cacheDir, agent, modDir string) (string, error) {
	order, err := moduleOrder(modDir, guestModules)
	if err != nil {
		return "", err
	}
	agentBytes, err := os.ReadFile(agent)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(agentBytes)
	fmt.Fprintln(h, modDir, order)
	out := filepath.Join(cacheDir, "initramfs-"+hex.EncodeToString(h.Sum(nil))[:16]+".cpio")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	var b bytes.Buffer
	w := &cpio{w: &b}
	for _, d := range []string{"dev", "proc", "sys", "mnt", "lib", "lib/modules"} {
		w.dir(d)
	}
	w.file("init", 0o755, agentBytes)
	var list strings.Builder
	for i, m := range order {
		data, err := os.ReadFile(filepath.Join(modDir, m))
		if err != nil {
			return "", err
		}
		name := fmt.Sprintf("lib/modules/%02d-%s", i, path.Base(m))
		w.file(name, 0o644, data)
		fmt.Fprintf(&list, "/%s\n", name)
	}
	w.file("lib/modules/order", 0o644, []byte(list.String()))
	w.trailer()
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return "", err
	}
	return out, os.Rename(tmp, out)
}

// cpio writes a newc archive.
type cpio struct {
	w   io.Writer
	ino int
}

func (c *cpio) entry(name string, mode uint32, data []byte) {
	c.ino++
	fmt.Fprintf(c.w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	io.WriteString(c.w, name+"\x00")
	c.pad(110 + len(name) + 1)
	c.w.Write(data)
	c.pad(len(data))
}

func (c *cpio) pad(n int) {
	if r := n % 4; r != 0 {
		c.w.Write(make([]byte, 4-r))
	}
}

func (c *cpio) dir(name string)                         { c.entry(name, 0o040755, nil) }
func (c *cpio) file(name string, perm uint32, b []byte) { c.entry(name, 0o100000|perm, b) }
func (c *cpio) trailer()                                { c.entry("TRAILER!!!", 0, nil) }

// images makes squashfs images of directories, once per directory and
// change: a runtime's image serves every VM of that runtime.
type images struct {
	dir        string // where they are kept
	mksquashfs string

	mu   sync.Mutex
	busy map[string]*sync.Mutex
}

// squashfs makes out an image of the directory src, compressed or not.
func (im *images) squashfs(ctx context.Context, src, out string, compress bool) error {
	args := []string{src, out, "-noappend", "-no-progress", "-quiet", "-no-xattrs"}
	if compress {
		args = append(args, "-comp", "lz4")
	} else {
		// Nothing to decompress in the guest (slow under TCG).
		args = append(args, "-noI", "-noD", "-noF", "-noX")
	}
	cmd := exec.CommandContext(ctx, im.mksquashfs, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(out)
		return fmt.Errorf("microvm: mksquashfs %s: %w: %s", src, err, bytes.TrimSpace(b))
	}
	return nil
}

// code returns the image of the code directory src, uncompressed (nothing
// to decompress in the guest), padded (sparse) to slotMiB when it fits:
// the size of a snapshot's code disk. It is made unless one of the same
// files (names, modes, sizes, change times) exists, and shared by the VMs
// of that code: it is read-only.
func (im *images) code(ctx context.Context, src string, slotMiB int) (string, bool, error) {
	h := sha256.New()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		fmt.Fprintf(h, "%q %v %d %d\n", rel, st.Mode(), st.Size(), st.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", false, err
	}
	fmt.Fprintln(h, slotMiB)
	out := filepath.Join(im.dir, "code-"+hex.EncodeToString(h.Sum(nil))[:16]+".sqfs")
	var fits bool
	err = im.once(out, func(tmp string) error {
		if err := im.squashfs(ctx, src, tmp, false); err != nil {
			return err
		}
		_, err := padTo(tmp, slotMiB)
		return err
	})
	if err != nil {
		return "", false, err
	}
	if st, err := os.Stat(out); err == nil {
		fits = st.Size() == int64(slotMiB)<<20
	}
	return out, fits, nil
}

// once makes out with build (given a temporary path to write), unless it
// exists; concurrent calls for one out wait for the first.
func (im *images) once(out string, build func(tmp string) error) error {
	im.mu.Lock()
	l := im.busy[out]
	if l == nil {
		l = &sync.Mutex{}
		im.busy[out] = l
	}
	im.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	if _, err := os.Stat(out); err == nil {
		return nil
	}
	if err := os.MkdirAll(im.dir, 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := build(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, out)
}

// runtime returns the image of the runtime directory src, made unless one
// of the same directory (path, inode, change time) exists: a runtime's
// image serves every VM of that runtime.
func (im *images) runtime(ctx context.Context, src string) (string, error) {
	st, err := os.Stat(src)
	if err != nil {
		return "", err
	}
	abs, _ := filepath.Abs(src)
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%v", abs, st.ModTime().UnixNano(), inode(st)))
	out := filepath.Join(im.dir, "runtime-"+hex.EncodeToString(h[:])[:16]+".sqfs")
	err = im.once(out, func(tmp string) error { return im.squashfs(ctx, src, tmp, true) })
	return out, err
}
