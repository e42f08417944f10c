package files

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// addNative streams r into a temp file while hashing it, makes the temp
// file durable and renames it to its hash.
func (s *Store) addNative(r *countingReader) (info Info, err error) {
	f, err := os.CreateTemp(s.tmpDir(), "native-*")
	if err != nil {
		return Info{}, err
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		if tmp != "" {
			os.Remove(tmp)
		}
	}()

	h := sha256.New()
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(io.MultiWriter(f, h), r, buf); err != nil {
		return Info{}, fmt.Errorf("add file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return Info{}, err
	}
	if err := f.Close(); err != nil {
		f = nil
		return Info{}, err
	}
	f = nil

	hash := hex.EncodeToString(h.Sum(nil))
	final := s.nativePath(hash)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return Info{}, err
	}
	info = Info{Hash: hash, Size: r.n, Engine: Native}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Stat(final); err == nil {
		// Already stored; the deferred cleanup drops the temp file.
		return info, touch(final)
	}
	if err := os.Rename(tmp, final); err != nil {
		return Info{}, err
	}
	tmp = ""
	if err := syncDir(filepath.Dir(final)); err != nil {
		return Info{}, err
	}
	s.files.Add(1)
	s.bytes.Add(info.Size)
	return info, nil
}

func (s *Store) openNative(hash string) (File, error) {
	f, err := os.Open(s.nativePath(hash))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &nativeFile{File: f, size: fi.Size()}, nil
}

func (s *Store) deleteNative(hash string) error {
	p := s.nativePath(hash)
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return err
	}
	s.files.Add(-1)
	s.bytes.Add(-fi.Size())
	return syncDir(filepath.Dir(p))
}

// nativeFile is an *os.File that knows its size. Embedding keeps the
// os.File fast paths (WriteTo, sendfile) visible to io.Copy.
type nativeFile struct {
	*os.File
	size int64
}

func (f *nativeFile) Size() int64 { return f.size }
