package files

import (
	"context"
	"encoding/base32"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

// blockKey is how kubo's flatfs names a block: the unpadded upper-case
// base32 of its multihash. Blocks are keyed by multihash, so a CIDv0 and the
// CIDv1 of the same dag-pb bytes share one block.
var blockKey = base32.StdEncoding.WithPadding(base32.NoPadding)

func keyOf(h mh.Multihash) string { return blockKey.EncodeToString(h) }

// isBlockKey reports whether a directory entry name is a block key.
func isBlockKey(name string) bool {
	if len(name) < 3 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// flatStore is a boxo blockstore with one file per block. It has two
// layouts: sharded, the flatfs layout of ipfs/blocks (<sh>/<KEY>.data), and
// flat, the layout of an IPFS file directory and of an add's staging
// directory (<KEY>).
type flatStore struct {
	dir     string
	sharded bool
	// syncEach makes Put fsync every block.
	syncEach bool
}

var _ blockstore.Blockstore = (*flatStore)(nil)

func (f *flatStore) path(h mh.Multihash) string {
	k := keyOf(h)
	if f.sharded {
		return filepath.Join(f.dir, shard(k), k+".data")
	}
	return filepath.Join(f.dir, k)
}

// Has reports whether the block is present.
func (f *flatStore) Has(_ context.Context, c cid.Cid) (bool, error) {
	_, err := os.Lstat(f.path(c.Hash()))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Get reads a block. The bytes are not re-hashed: the store wrote them.
func (f *flatStore) Get(_ context.Context, c cid.Cid) (blocks.Block, error) {
	data, err := os.ReadFile(f.path(c.Hash()))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ipld.ErrNotFound{Cid: c}
	}
	if err != nil {
		return nil, err
	}
	return blocks.NewBlockWithCid(data, c)
}

// GetSize returns the size of a block.
func (f *flatStore) GetSize(_ context.Context, c cid.Cid) (int, error) {
	fi, err := os.Lstat(f.path(c.Hash()))
	if errors.Is(err, fs.ErrNotExist) {
		return -1, ipld.ErrNotFound{Cid: c}
	}
	if err != nil {
		return -1, err
	}
	return int(fi.Size()), nil
}

// Put writes a block unless it is present, atomically (temp file, rename).
func (f *flatStore) Put(_ context.Context, b blocks.Block) error {
	p := f.path(b.Cid().Hash())
	if _, err := os.Lstat(p); err == nil {
		return nil
	}
	dir := filepath.Dir(p)
	tmp, err := os.CreateTemp(dir, ".put-*")
	if errors.Is(err, fs.ErrNotExist) && f.sharded {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			tmp, err = os.CreateTemp(dir, ".put-*")
		}
	}
	if err != nil {
		return err
	}
	_, err = tmp.Write(b.RawData())
	if err == nil && f.syncEach {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// PutMany writes blocks one by one.
func (f *flatStore) PutMany(ctx context.Context, bs []blocks.Block) error {
	for _, b := range bs {
		if err := f.Put(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// DeleteBlock removes a block; removing an absent block succeeds.
func (f *flatStore) DeleteBlock(_ context.Context, c cid.Cid) error {
	err := os.Remove(f.path(c.Hash()))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// AllKeysChan lists the blocks as CIDv1 raw (codecs are not stored, as in
// every multihash-keyed blockstore). The listing goroutine ends when the
// listing does or ctx is done.
func (f *flatStore) AllKeysChan(ctx context.Context) (<-chan cid.Cid, error) {
	dirs := []string{f.dir}
	if f.sharded {
		shards, err := readNames(f.dir)
		if err != nil {
			return nil, err
		}
		dirs = dirs[:0]
		for _, sh := range shards {
			if len(sh) == 2 {
				dirs = append(dirs, filepath.Join(f.dir, sh))
			}
		}
	}
	out := make(chan cid.Cid)
	go func() {
		defer close(out)
		for _, d := range dirs {
			names, err := readNames(d)
			if err != nil {
				return
			}
			for _, name := range names {
				if f.sharded {
					var ok bool
					if name, ok = strings.CutSuffix(name, ".data"); !ok {
						continue
					}
				}
				if !isBlockKey(name) {
					continue
				}
				h, err := blockKey.DecodeString(name)
				if err != nil {
					continue
				}
				select {
				case out <- cid.NewCidV1(cid.Raw, h):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
