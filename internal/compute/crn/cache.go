package crn

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/files"
)

// cache is the on-disk cache of files downloaded from the core node, by
// file hash, each verified (sha256 or CID recomputed) before it enters
// files/. Concurrent requests for one file share one download.
type cache struct {
	dir     string
	client  *client.Client
	maxSize int64
	timeout time.Duration // of one download

	mu       sync.Mutex
	inflight map[string]*fetch
	onFetch  func(result string) // metrics hook

	unpacking chan struct{} // one unsquash at a time
}

type fetch struct {
	done chan struct{}
	path string
	err  error
}

func newCache(dir string, c *client.Client, maxSize int64, timeout time.Duration, onFetch func(string)) (*cache, error) {
	for _, d := range []string{"files", "unpacked", "tmp", "volumes"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	// Leftovers of an interrupted run.
	entries, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, "tmp", e.Name()))
	}
	return &cache{dir: dir, client: c, maxSize: maxSize, timeout: timeout, inflight: map[string]*fetch{}, onFetch: onFetch,
		unpacking: make(chan struct{}, 1)}, nil
}

// file returns the path of the verified file with file hash hash,
// downloading it first if needed.
func (c *cache) file(ctx context.Context, hash string) (string, error) {
	engine, err := files.EngineOf(hash)
	if err != nil {
		return "", wrap(http.StatusBadRequest, err, "bad file hash %q", hash)
	}
	path := filepath.Join(c.dir, "files", hash)
	if _, err := os.Stat(path); err == nil {
		c.onFetch("cached")
		return path, nil
	}
	c.mu.Lock()
	f, ok := c.inflight[hash]
	if !ok {
		f = &fetch{done: make(chan struct{})}
		c.inflight[hash] = f
		go func() { // owned by the callers waiting on f.done; bounded by the download's own context
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
			f.path, f.err = c.download(dctx, hash, engine, path)
			cancel()
			c.mu.Lock()
			delete(c.inflight, hash)
			c.mu.Unlock()
			close(f.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.path, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (c *cache) download(ctx context.Context, hash string, engine files.Engine, path string) (string, error) {
	tmp, err := os.CreateTemp(filepath.Join(c.dir, "tmp"), "dl-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := c.client.Download(ctx, hash, &limitWriter{w: tmp, left: c.maxSize})
	if err != nil {
		c.onFetch("error")
		if errors.Is(err, client.ErrNotFound) {
			return "", wrap(http.StatusBadRequest, err, "Code, runtime or data not available: file %s not found on the core node", hash)
		}
		if errors.Is(err, errTooLarge) {
			return "", errorf(http.StatusInternalServerError, "file %s is larger than %d bytes", hash, c.maxSize)
		}
		return "", wrap(http.StatusBadRequest, err, "Code, runtime or data not available: download %s", hash)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	got, err := fileHash(tmp, engine, hash)
	if err != nil {
		return "", err
	}
	if got != hash {
		c.onFetch("corrupt")
		return "", errorf(http.StatusBadGateway, "Code, runtime or data not available: the core node served %d bytes hashing to %s for %s", n, got, hash)
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	c.onFetch("downloaded")
	return path, nil
}

// fileHash computes the hash of r the way engine addresses it: sha256 hex,
// or the CID `ipfs add` gives it (version of the expected CID).
func fileHash(r io.Reader, engine files.Engine, want string) (string, error) {
	if engine != files.IPFS {
		h := sha256.New()
		if _, err := io.Copy(h, r); err != nil {
			return "", err
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	version := 1
	if strings.HasPrefix(want, "Qm") {
		version = 0
	}
	return files.CID(r, version)
}

var errTooLarge = errors.New("file too large")

type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		return 0, errTooLarge
	}
	l.left -= int64(len(p))
	return l.w.Write(p)
}

// unzip returns the directory holding the contents of the zip file at
// path (file hash hash), extracting it once into unpacked/<hash>.
func (c *cache) unzip(hash, path string) (string, error) {
	dir := filepath.Join(c.dir, "unpacked", hash)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(c.dir, "tmp"), "unzip-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := extract(path, tmp, c.maxSize); err != nil {
		return "", wrap(http.StatusUnprocessableEntity, err, "cannot unzip %s", hash)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, e := os.Stat(dir); e == nil { // a concurrent extraction won
			return dir, nil
		}
		return "", err
	}
	return dir, nil
}

// extract unpacks the zip archive src into dir, refusing paths that leave
// dir, links, and more than max bytes in all.
func extract(src, dir string, max int64) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return err
	}
	defer zr.Close()
	left := max
	for _, f := range zr.File {
		name := filepath.FromSlash(f.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("entry %q leaves the archive", f.Name)
		}
		target := filepath.Join(dir, name)
		mode := f.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		case !mode.IsRegular():
			return fmt.Errorf("entry %q is not a regular file", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		perm := os.FileMode(0o644)
		if mode&0o111 != 0 {
			perm = 0o755
		}
		in, err := f.Open()
		if err != nil {
			return err
		}
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			in.Close()
			return err
		}
		n, err := io.Copy(out, io.LimitReader(in, left+1))
		in.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if left -= n; left < 0 {
			return fmt.Errorf("more than %d bytes unpacked", max)
		}
	}
	return nil
}

// tempDir makes a fresh directory under tmp/ (ephemeral volumes).
func (c *cache) tempDir(prefix string) (string, error) {
	b := make([]byte, 6)
	rand.Read(b)
	dir := filepath.Join(c.dir, "tmp", prefix+hex.EncodeToString(b))
	return dir, os.Mkdir(dir, 0o755)
}

// squashfsMagic starts a squashfs image ("hsqs", little-endian).
var squashfsMagic = []byte("hsqs")

// isSquashfs reports whether the file at path starts like a squashfs image.
func isSquashfs(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, len(squashfsMagic))
	_, err = io.ReadFull(f, b)
	return err == nil && string(b) == string(squashfsMagic)
}

// unsquash returns the directory holding the contents of the squashfs
// image at path (file hash hash), unpacking it once into unpacked/<hash>
// with unsquashfs (squashfs-tools). Unpacking rather than mounting works
// without privileges; the image's /dev is left out (device nodes need
// root, and the sandbox mounts its own /dev), an empty /dev stands for it.
// One unpack runs at a time: a second request for the same image waits
// for the first and finds it done.
func (c *cache) unsquash(ctx context.Context, hash, path string) (string, error) {
	dir := filepath.Join(c.dir, "unpacked", hash)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	select {
	case c.unpacking <- struct{}{}:
		defer func() { <-c.unpacking }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	bin, err := exec.LookPath("unsquashfs")
	if err != nil {
		return "", wrap(http.StatusNotImplemented, err, "cannot unpack the runtime image %s: unsquashfs (squashfs-tools) is not installed on this node", hash)
	}
	tmp, err := os.MkdirTemp(filepath.Join(c.dir, "tmp"), "unsquash-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "root")
	cmd := exec.CommandContext(ctx, bin, "-no-progress", "-quiet", "-d", root, "-excludes", path, "/dev")
	if out, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", wrap(http.StatusUnprocessableEntity, fmt.Errorf("%w: %s", err, bytes.TrimSpace(out)), "cannot unpack the runtime image %s", hash)
	}
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(root, dir); err != nil {
		if _, e := os.Stat(dir); e == nil {
			return dir, nil
		}
		return "", err
	}
	return dir, nil
}

// codeDir returns a directory holding the plain code file at path (file
// hash hash) under the name name, executable if exec is set, made once
// into unpacked/<hash>-plain-<name hash>.
func (c *cache) codeDir(hash, path, name string, exec bool) (string, error) {
	sum := sha256.Sum256([]byte(fmt.Sprint(name, exec)))
	dir := filepath.Join(c.dir, "unpacked", hash+"-plain-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(c.dir, "tmp"), "code-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	target := filepath.Join(tmp, name)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return "", err
	}
	perm := os.FileMode(0o644)
	if exec {
		perm = 0o755
	}
	if err := copyFile(target, path, perm); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, e := os.Stat(dir); e == nil {
			return dir, nil
		}
		return "", err
	}
	return dir, nil
}

func copyFile(dst, src string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
