package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Engine names how a file is addressed. The values are the Aleph
// item_type/engine names used on the wire.
type Engine string

const (
	// Native addresses a file by the lowercase hex SHA-256 of its bytes.
	Native Engine = "storage"
	// IPFS addresses a file by the CID `ipfs add` gives it.
	IPFS Engine = "ipfs"
)

var (
	// ErrNotFound is returned when the store does not hold the file.
	ErrNotFound = errors.New("file not found")
	// ErrTooLarge is returned by Add when the content exceeds AddOptions.MaxSize.
	ErrTooLarge = errors.New("file too large")
	// ErrBadHash is returned for a string that is not a file hash of either engine.
	ErrBadHash = errors.New("malformed file hash")
)

// AddOptions tunes Store.Add. The zero value adds with no size limit and,
// for the IPFS engine, CIDv0.
type AddOptions struct {
	// CIDVersion is 0 (CIDv0, dag-pb leaves, kubo's default) or 1 (CIDv1,
	// raw leaves, as `ipfs add --cid-version=1`). The native engine ignores it.
	CIDVersion int
	// MaxSize is the largest accepted content in bytes; 0 means no limit.
	// Longer content makes Add fail with ErrTooLarge and store nothing.
	MaxSize int64
}

// Info describes a stored file.
type Info struct {
	Hash   string // sha256 hex (native) or CID string (IPFS)
	Size   int64  // length of the content in bytes
	Engine Engine
}

// File is an open stored file. It is not safe for concurrent use.
type File interface {
	io.ReadSeekCloser
	// Size is the length of the content in bytes.
	Size() int64
}

// Store is a content-addressed file store in one directory. See the package
// documentation for the layout. All methods are safe for concurrent use.
type Store struct {
	dir  string
	lock *os.File

	// mu serialises the changes to the hard-link graph of IPFS blocks
	// (committing and discarding IPFS file directories) and the native
	// commits and deletes, so that the existence checks and the counters
	// agree with the disk.
	mu sync.Mutex

	files atomic.Int64
	bytes atomic.Int64
	seq   atomic.Uint64 // names of trash directories
}

// Open opens (creating it if needed) the store in dir. It finishes what a
// crash interrupted (staged adds and half-done deletes under tmp/) and walks
// the store once to count its files and bytes for Usage, so it takes time
// proportional to the number of stored files.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir}
	for _, d := range []string{s.tmpDir(), filepath.Join(dir, "storage"), s.blocksDir(), filepath.Join(dir, "ipfs", "files")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create store directory: %w", err)
		}
	}
	sharding := filepath.Join(s.blocksDir(), "SHARDING")
	if _, err := os.Stat(sharding); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(sharding, []byte("/repo/flatfs/shard/v1/next-to-last/2\n"), 0o644); err != nil {
			return nil, fmt.Errorf("write sharding spec: %w", err)
		}
	}
	lock, err := lockDir(filepath.Join(dir, "LOCK"))
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if err := s.recover(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.count(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the directory lock. Files opened from the store stay readable.
func (s *Store) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}

// Add reads r to its end and stores its content with the given engine. It
// returns once the file is durable. Adding content that is already stored
// succeeds and changes nothing. The context cancels the add.
func (s *Store) Add(ctx context.Context, engine Engine, r io.Reader, opts AddOptions) (Info, error) {
	if opts.MaxSize < 0 {
		return Info{}, fmt.Errorf("negative max size %d", opts.MaxSize)
	}
	cr := &countingReader{ctx: ctx, r: r, max: opts.MaxSize}
	switch engine {
	case Native:
		return s.addNative(cr)
	case IPFS:
		return s.addIPFS(ctx, cr, opts.CIDVersion)
	default:
		return Info{}, fmt.Errorf("unknown storage engine %q", engine)
	}
}

// Open opens a stored file for reading. For an IPFS file, the blocks are
// read as the file is read, under ctx: cancelling ctx makes further reads
// fail, and deleting the file while it is open makes them fail too (a native
// file stays readable until closed).
func (s *Store) Open(ctx context.Context, hash string) (File, error) {
	engine, c, err := parseHash(hash)
	if err != nil {
		return nil, err
	}
	if engine == Native {
		return s.openNative(hash)
	}
	return s.openIPFS(ctx, c)
}

// Stat describes a stored file, or returns ErrNotFound.
func (s *Store) Stat(ctx context.Context, hash string) (Info, error) {
	engine, _, err := parseHash(hash)
	if err != nil {
		return Info{}, err
	}
	var size int64
	if engine == Native {
		fi, err := os.Stat(s.nativePath(hash))
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, ErrNotFound
		}
		if err != nil {
			return Info{}, err
		}
		size = fi.Size()
	} else {
		size, err = readSize(s.ipfsFileDir(hash))
		if err != nil {
			return Info{}, err
		}
	}
	return Info{Hash: hash, Size: size, Engine: engine}, nil
}

// ModTime tells when a stored file was last added (adding content that is
// already stored renews it), or returns ErrNotFound. The garbage collector
// uses it to spare recent files that no record names yet.
func (s *Store) ModTime(ctx context.Context, hash string) (time.Time, error) {
	engine, _, err := parseHash(hash)
	if err != nil {
		return time.Time{}, err
	}
	p := s.nativePath(hash)
	if engine == IPFS {
		p = filepath.Join(s.ipfsFileDir(hash), "size")
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, ErrNotFound
	}
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

// touch renews the modification time of an already stored file (see
// ModTime). Called with s.mu held.
func touch(p string) error {
	now := time.Now()
	return os.Chtimes(p, now, now)
}

// Has reports whether the store holds the file.
func (s *Store) Has(ctx context.Context, hash string) (bool, error) {
	_, err := s.Stat(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Delete removes a stored file. Deleting an absent file succeeds. For an
// IPFS file, the blocks that another stored file also uses are kept.
func (s *Store) Delete(ctx context.Context, hash string) error {
	engine, _, err := parseHash(hash)
	if err != nil {
		return err
	}
	if engine == Native {
		return s.deleteNative(hash)
	}
	return s.deleteIPFS(hash)
}

// Hashes walks the hashes of all stored files, native first, in no
// particular order. Files added or deleted during the walk may or may not be
// seen. The walk stops at the first error, which it yields.
func (s *Store) Hashes(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for _, top := range []string{filepath.Join(s.dir, "storage"), filepath.Join(s.dir, "ipfs", "files")} {
			shards, err := os.ReadDir(top)
			if err != nil {
				yield("", err)
				return
			}
			for _, sh := range shards {
				if !sh.IsDir() {
					continue
				}
				names, err := readNames(filepath.Join(top, sh.Name()))
				if err != nil {
					yield("", err)
					return
				}
				for _, name := range names {
					if err := ctx.Err(); err != nil {
						yield("", err)
						return
					}
					if _, _, err := parseHash(name); err != nil {
						continue
					}
					if !yield(name, nil) {
						return
					}
				}
			}
		}
	}
}

// Usage returns the number of stored files and the sum of their sizes.
func (s *Store) Usage() (files int64, bytes int64) {
	return s.files.Load(), s.bytes.Load()
}

// EngineOf tells the engine of a hash by its shape: 64 lowercase hex
// characters are a native SHA-256; a CIDv0 (Qm…, base58btc) or a CIDv1 in
// base32 of a dag-pb (bafy…) or raw (bafk…) node hashed with SHA-256 is an
// IPFS CID. Anything else is ErrBadHash.
func EngineOf(hash string) (Engine, error) {
	engine, _, err := parseHash(hash)
	return engine, err
}

// recover empties tmp/: a directory there is an IPFS file whose add or
// delete was interrupted, and is discarded; a plain file is a native temp.
func (s *Store) recover() error {
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(s.tmpDir(), e.Name())
		if e.IsDir() {
			err = s.discard(p)
		} else {
			err = os.Remove(p)
		}
		if err != nil {
			return fmt.Errorf("clean up %s: %w", p, err)
		}
	}
	return nil
}

// count sets the usage counters from the disk.
func (s *Store) count() error {
	var files, bytes int64
	for hash, err := range s.Hashes(context.Background()) {
		if err != nil {
			return fmt.Errorf("count stored files: %w", err)
		}
		info, err := s.Stat(context.Background(), hash)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("count stored files: %w", err)
		}
		files++
		bytes += info.Size
	}
	s.files.Store(files)
	s.bytes.Store(bytes)
	return nil
}

func (s *Store) tmpDir() string    { return filepath.Join(s.dir, "tmp") }
func (s *Store) blocksDir() string { return filepath.Join(s.dir, "ipfs", "blocks") }

func (s *Store) nativePath(hash string) string {
	return filepath.Join(s.dir, "storage", shard(hash), hash)
}

func (s *Store) ipfsFileDir(c string) string {
	return filepath.Join(s.dir, "ipfs", "files", shard(c), c)
}

// shard is flatfs's next-to-last/2 function: names that differ in their
// last characters spread over directories.
func shard(name string) string {
	return name[len(name)-3 : len(name)-1]
}

// readSize reads the size record of an IPFS file directory.
func readSize(dir string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "size"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("corrupt size record in %s: %w", dir, err)
	}
	return n, nil
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// syncDir makes the entries of a directory durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// countingReader counts the bytes read, enforces the size limit and stops
// on context cancellation.
type countingReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
	max int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if c.max > 0 {
		// Read at most one byte past the limit: enough to know it is exceeded.
		if room := c.max + 1 - c.n; int64(len(p)) > room {
			p = p[:room]
		}
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.max > 0 && c.n > c.max {
		return n, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, c.max)
	}
	return n, err
}
