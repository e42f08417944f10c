package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	cid "github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// profileFor returns the import settings of `ipfs add` with kubo's default
// configuration (the unixfs-v0-2015 profile of IPIP-499: 256 KiB chunks,
// 174 links per node, balanced layout) for a CID version. Like kubo,
// `--cid-version=1` switches to raw leaves and keeps the rest.
func profileFor(version int) (uio.UnixFSProfile, error) {
	p := uio.UnixFS_v0_2015
	switch version {
	case 0:
	case 1:
		p.CIDVersion = 1
		p.RawLeaves = true
	default:
		return p, fmt.Errorf("unsupported CID version %d", version)
	}
	return p, nil
}

// buildDAG chunks r and writes the UnixFS file DAG to dserv with boxo's
// balanced importer, as `ipfs add` does. The settings are passed explicitly
// rather than through boxo's process-wide defaults, which a profile may
// change. Memory stays flat: the importer keeps one chunk and the links of
// the nodes on the current path.
func buildDAG(r io.Reader, dserv ipld.DAGService, p uio.UnixFSProfile) (ipld.Node, error) {
	params := helpers.DagBuilderParams{
		Dagserv:   dserv,
		Maxlinks:  p.FileDAGWidth,
		RawLeaves: p.RawLeaves,
	}
	if p.CIDVersion != 0 {
		params.CidBuilder = p.CidBuilder()
	}
	db, err := params.New(chunker.NewSizeSplitter(r, p.ChunkSize))
	if err != nil {
		return nil, err
	}
	return balanced.Layout(db)
}

// CID computes the CID that `ipfs add` (kubo defaults, the given CID
// version) gives to the content of r, without storing anything. Use it to
// check content fetched from elsewhere.
func CID(r io.Reader, version int) (string, error) {
	p, err := profileFor(version)
	if err != nil {
		return "", err
	}
	nd, err := buildDAG(r, discardDAG{}, p)
	if err != nil {
		return "", err
	}
	return nd.Cid().String(), nil
}

// addIPFS imports r into a staging directory of tmp/ (one file per block,
// plus the size record), then commits it: every staged block is linked into
// the shared blocks directory (or re-linked to the copy already there), the
// file system is synced, and the staging directory is renamed to the file's
// directory.
func (s *Store) addIPFS(ctx context.Context, r *countingReader, version int) (Info, error) {
	p, err := profileFor(version)
	if err != nil {
		return Info{}, err
	}
	stage, err := os.MkdirTemp(s.tmpDir(), "ipfs-*")
	if err != nil {
		return Info{}, err
	}
	committed := false
	defer func() {
		if !committed {
			s.mu.Lock()
			s.discard(stage)
			s.mu.Unlock()
		}
	}()

	root, err := buildDAG(r, stager{stage}, p)
	if err != nil {
		return Info{}, fmt.Errorf("add file: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	if err := writeFileSync(filepath.Join(stage, "size"), []byte(strconv.FormatInt(r.n, 10)+"\n")); err != nil {
		return Info{}, err
	}

	info := Info{Hash: root.Cid().String(), Size: r.n, Engine: IPFS}
	final := s.ipfsFileDir(info.Hash)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Stat(final); err == nil {
		// Already stored; the deferred discard drops the staging.
		return info, touch(filepath.Join(final, "size"))
	}
	if err := s.linkBlocks(stage); err != nil {
		return Info{}, err
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return Info{}, err
	}
	if err := os.Rename(stage, final); err != nil {
		return Info{}, err
	}
	committed = true
	if err := syncDir(filepath.Dir(final)); err != nil {
		return Info{}, err
	}
	s.files.Add(1)
	s.bytes.Add(info.Size)
	return info, nil
}

// linkBlocks makes every block of a staged file a hard link of the block in
// the shared blocks directory (adding it there if new), then makes all of it
// durable. Called with s.mu held.
func (s *Store) linkBlocks(stage string) error {
	names, err := readNames(stage)
	if err != nil {
		return err
	}
	dirs := map[string]bool{stage: true}
	for _, name := range names {
		if !isBlockKey(name) {
			continue
		}
		staged := filepath.Join(stage, name)
		canon := s.blockPath(name)
		err := os.Link(staged, canon)
		if errors.Is(err, fs.ErrNotExist) {
			if err = os.MkdirAll(filepath.Dir(canon), 0o755); err == nil {
				err = os.Link(staged, canon)
			}
		}
		switch {
		case err == nil:
			dirs[filepath.Dir(canon)] = true
		case errors.Is(err, fs.ErrExist):
			// The block is already there: share its inode instead.
			if err := relink(canon, staged); err != nil {
				return err
			}
		default:
			return fmt.Errorf("link block: %w", err)
		}
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	return syncDirs(list)
}

// relink replaces staged by a hard link to canon. If canon has reached the
// file system's link limit (EMLINK, 65000 on ext4), the staged copy is
// kept: the file stays complete and readable, only its directory no longer
// shares that block's inode.
func relink(canon, staged string) error {
	tmp := staged + ".link"
	if err := os.Link(canon, tmp); err != nil {
		if isTooManyLinks(err) {
			return nil
		}
		return fmt.Errorf("link block: %w", err)
	}
	if err := os.Rename(tmp, staged); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// discard removes an IPFS file directory that is not (or no longer) in
// files/: a failed or duplicate staging, or a deleted file moved to tmp/.
// A shared block goes with it when this directory held its last other link.
// Each step can be redone after a crash. Called with s.mu held (or before
// the store is shared).
func (s *Store) discard(dir string) error {
	names, err := readNames(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, name := range names {
		p := filepath.Join(dir, name)
		if isBlockKey(name) {
			canon := s.blockPath(name)
			mine, err1 := os.Lstat(p)
			shared, err2 := os.Lstat(canon)
			// Links: the shared entry and this one, and nobody else's.
			if err1 == nil && err2 == nil && os.SameFile(mine, shared) && linkCount(shared) <= 2 {
				if err := os.Remove(canon); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return os.Remove(dir)
}

func (s *Store) deleteIPFS(hash string) error {
	final := s.ipfsFileDir(hash)
	s.mu.Lock()
	defer s.mu.Unlock()
	size, err := readSize(final)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	trash := filepath.Join(s.tmpDir(), fmt.Sprintf("del-%d-%d", os.Getpid(), s.seq.Add(1)))
	if err := os.Rename(final, trash); err != nil {
		return err
	}
	s.files.Add(-1)
	s.bytes.Add(-size)
	if err := syncDir(filepath.Dir(final)); err != nil {
		return err
	}
	return s.discard(trash)
}

func (s *Store) blockPath(key string) string {
	return filepath.Join(s.blocksDir(), shard(key), key+".data")
}

func (s *Store) openIPFS(ctx context.Context, c cid.Cid) (File, error) {
	dir := s.ipfsFileDir(c.String())
	size, err := readSize(dir)
	if err != nil {
		return nil, err
	}
	dserv := merkledag.NewDAGService(blockservice.New(&flatStore{dir: dir}, nil))
	root, err := dserv.Get(ctx, c)
	if ipld.IsNotFound(err) {
		return nil, ErrNotFound // deleted meanwhile
	}
	if err != nil {
		return nil, err
	}
	dr, err := uio.NewDagReader(ctx, root, dserv)
	if err != nil {
		return nil, err
	}
	return &ipfsFile{dr: dr, size: size}, nil
}

// Blockstore gives access by CID to the blocks of all stored IPFS files, for
// serving them to other IPFS nodes. Blocks put through it that no stored
// file uses are a cache: a later delete of a file sharing them may remove
// them. Put must only be given verified blocks (bitswap verifies them), as
// a file added later adopts a block already present instead of its own copy.
// Deleting a block through it does not affect the stored files, which keep
// their own links.
func (s *Store) Blockstore() blockstore.Blockstore {
	return &flatStore{dir: s.blocksDir(), sharded: true, syncEach: true}
}

// ipfsFile reads a UnixFS file with boxo's DAG reader. Seeking past the end
// is allowed (reads then return io.EOF), as for an os.File.
type ipfsFile struct {
	dr   uio.DagReader
	size int64
	pos  int64
}

func (f *ipfsFile) Size() int64 { return f.size }

func (f *ipfsFile) Read(p []byte) (int, error) {
	if f.pos >= f.size {
		return 0, io.EOF
	}
	n, err := f.dr.Read(p)
	f.pos += int64(n)
	return n, err
}

func (f *ipfsFile) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = f.pos + offset
	case io.SeekEnd:
		abs = f.size + offset
	default:
		return f.pos, errors.New("seek: invalid whence")
	}
	if abs < 0 {
		return f.pos, errors.New("seek: negative position")
	}
	if abs < f.size {
		if _, err := f.dr.Seek(abs, io.SeekStart); err != nil {
			return f.pos, err
		}
	}
	f.pos = abs
	return abs, nil
}

func (f *ipfsFile) Close() error { return f.dr.Close() }

// writeFileSync writes a small file durably (its directory is synced later).
func writeFileSync(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// stager is the DAG service of an add: it writes each block into the
// staging directory as <KEY>. (Writing from a separate goroutine, to overlap
// disk writes with hashing, measured no faster: block-file creation is
// kernel-bound.)
type stager struct{ dir string }

func (st stager) Add(_ context.Context, nd ipld.Node) error {
	f, err := os.OpenFile(filepath.Join(st.dir, keyOf(nd.Cid().Hash())), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil // the same block twice in one file
	}
	if err != nil {
		return err
	}
	_, err = f.Write(nd.RawData())
	if err == nil && !haveSyncFS {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (st stager) AddMany(ctx context.Context, nds []ipld.Node) error {
	for _, nd := range nds {
		if err := st.Add(ctx, nd); err != nil {
			return err
		}
	}
	return nil
}

func (stager) Get(ctx context.Context, c cid.Cid) (ipld.Node, error) {
	return discardDAG{}.Get(ctx, c)
}

func (stager) GetMany(ctx context.Context, cs []cid.Cid) <-chan *ipld.NodeOption {
	return discardDAG{}.GetMany(ctx, cs)
}

func (stager) Remove(context.Context, cid.Cid) error       { return nil }
func (stager) RemoveMany(context.Context, []cid.Cid) error { return nil }

// discardDAG is a DAG service that keeps nothing, for computing CIDs.
type discardDAG struct{}

func (discardDAG) Get(_ context.Context, c cid.Cid) (ipld.Node, error) {
	return nil, ipld.ErrNotFound{Cid: c}
}

func (discardDAG) GetMany(_ context.Context, cs []cid.Cid) <-chan *ipld.NodeOption {
	out := make(chan *ipld.NodeOption, len(cs))
	for _, c := range cs {
		out <- &ipld.NodeOption{Err: ipld.ErrNotFound{Cid: c}}
	}
	close(out)
	return out
}

func (discardDAG) Add(context.Context, ipld.Node) error        { return nil }
func (discardDAG) AddMany(context.Context, []ipld.Node) error  { return nil }
func (discardDAG) Remove(context.Context, cid.Cid) error       { return nil }
func (discardDAG) RemoveMany(context.Context, []cid.Cid) error { return nil }
