package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cid "github.com/ipfs/go-cid"
)

func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func readAll(t *testing.T, s *Store, hash string) []byte {
	t.Helper()
	f, err := s.Open(context.Background(), hash)
	if err != nil {
		t.Fatalf("open %s: %v", hash, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", hash, err)
	}
	if f.Size() != int64(len(b)) {
		t.Fatalf("Size() = %d, read %d bytes", f.Size(), len(b))
	}
	return b
}

// dirEntries lists the regular files under dir, recursively.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func blockFiles(t *testing.T, dir string) []string {
	var out []string
	for _, p := range dirEntries(t, filepath.Join(dir, "ipfs", "blocks")) {
		if strings.HasSuffix(p, ".data") {
			out = append(out, p)
		}
	}
	return out
}

func assertEmptyTmp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("tmp/ not empty: %v", entries)
	}
}

// TestNativeVectors checks the sha256 vectors of spec core-node.md §3.3 (the
// spec gives prefix and suffix only).
func TestNativeVectors(t *testing.T) {
	s, _ := openStore(t)
	cases := []struct{ content, prefix, suffix string }{
		{"Hello earthlings, I come in pieces", "bb6e53f2", "f8a3"},
		{"Hello Aleph.im\n", "0214e557", "0b6f"},
		{`{"first name":"Jay","last_name":"Son"}`, "b7c7b2db", "a0b2"},
	}
	for _, tc := range cases {
		info, err := s.Add(context.Background(), Native, strings.NewReader(tc.content), AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(info.Hash, tc.prefix) || !strings.HasSuffix(info.Hash, tc.suffix) || len(info.Hash) != 64 {
			t.Errorf("sha256(%q) = %s, want %s…%s", tc.content, info.Hash, tc.prefix, tc.suffix)
		}
		if info.Engine != Native || info.Size != int64(len(tc.content)) {
			t.Errorf("info = %+v", info)
		}
	}
}

// TestAddIPFSMatchesKubo stores kubo's vectors and checks that Add gives
// the same CIDs as kubo (through the stored DAG, not only CID()).
func TestAddIPFSMatchesKubo(t *testing.T) {
	s, _ := openStore(t)
	cases := []struct {
		content io.Reader
		version int
		want    string
	}{
		{strings.NewReader(""), 0, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"},
		{strings.NewReader("hello world\n"), 0, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"},
		{strings.NewReader("hello world\n"), 1, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"},
		{kuboBytes(t, 256<<10+1, "chunk-v0-seed"), 0, "QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ"},
		{kuboBytes(t, 174*256<<10+1, "v0-seed"), 0, "QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW"},
	}
	for _, tc := range cases {
		info, err := s.Add(context.Background(), IPFS, tc.content, AddOptions{CIDVersion: tc.version})
		if err != nil {
			t.Fatal(err)
		}
		if info.Hash != tc.want {
			t.Errorf("Add gave %s, want %s", info.Hash, tc.want)
		}
	}
	// The two-layer file reads back as kubo's bytes.
	want, _ := io.ReadAll(kuboBytes(t, 174*256<<10+1, "v0-seed"))
	if got := readAll(t, s, "QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW"); !bytes.Equal(got, want) {
		t.Fatal("two-layer file reads back wrong")
	}
}

func TestRoundTrip(t *testing.T) {
	s, dir := openStore(t)
	sizes := []int{0, 1, 1000, 256 << 10, 256<<10 + 1, 3<<20 + 12345}
	type target struct {
		engine  Engine
		version int
	}
	targets := []target{{Native, 0}, {IPFS, 0}, {IPFS, 1}}
	var wantFiles, wantBytes int64
	for i, n := range sizes {
		data := randomBytes(uint64(i), n)
		for _, tg := range targets {
			name := fmt.Sprintf("%s-v%d-%d", tg.engine, tg.version, n)
			info, err := s.Add(context.Background(), tg.engine, bytes.NewReader(data), AddOptions{CIDVersion: tg.version})
			if err != nil {
				t.Fatalf("%s: add: %v", name, err)
			}
			if info.Size != int64(n) || info.Engine != tg.engine {
				t.Fatalf("%s: info %+v", name, info)
			}
			if e, err := EngineOf(info.Hash); err != nil || e != tg.engine {
				t.Fatalf("%s: EngineOf(%s) = %v, %v", name, info.Hash, e, err)
			}
			if tg.engine == IPFS {
				want, err := CID(bytes.NewReader(data), tg.version)
				if err != nil || want != info.Hash {
					t.Fatalf("%s: Add gave %s, CID gives %s (%v)", name, info.Hash, want, err)
				}
			}
			if got := readAll(t, s, info.Hash); !bytes.Equal(got, data) {
				t.Fatalf("%s: read back %d bytes, differ", name, len(got))
			}
			st, err := s.Stat(context.Background(), info.Hash)
			if err != nil || st != info {
				t.Fatalf("%s: Stat = %+v, %v; want %+v", name, st, err, info)
			}
			if ok, err := s.Has(context.Background(), info.Hash); !ok || err != nil {
				t.Fatalf("%s: Has = %v, %v", name, ok, err)
			}
			wantFiles++
			wantBytes += int64(n)
		}
	}
	if f, b := s.Usage(); f != wantFiles || b != wantBytes {
		t.Fatalf("Usage = %d files %d bytes, want %d, %d", f, b, wantFiles, wantBytes)
	}
	var listed int64
	for h, err := range s.Hashes(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if _, err := EngineOf(h); err != nil {
			t.Fatalf("Hashes yielded %q: %v", h, err)
		}
		listed++
	}
	if listed != wantFiles {
		t.Fatalf("Hashes listed %d, want %d", listed, wantFiles)
	}
	assertEmptyTmp(t, dir)

	// Reopening counts the same.
	s.Close()
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if f, b := s2.Usage(); f != wantFiles || b != wantBytes {
		t.Fatalf("after reopen Usage = %d, %d; want %d, %d", f, b, wantFiles, wantBytes)
	}
}

func TestAddTwiceCountsOnce(t *testing.T) {
	s, _ := openStore(t)
	data := randomBytes(7, 600<<10)
	for _, e := range []Engine{Native, IPFS} {
		for range 2 {
			if _, err := s.Add(context.Background(), e, bytes.NewReader(data), AddOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if f, b := s.Usage(); f != 2 || b != 2*int64(len(data)) {
		t.Fatalf("Usage = %d, %d", f, b)
	}
}

func TestSeek(t *testing.T) {
	s, _ := openStore(t)
	data := randomBytes(3, 5<<20/2+777) // 10 chunks and a bit
	for _, tg := range []struct {
		engine  Engine
		version int
	}{{Native, 0}, {IPFS, 0}, {IPFS, 1}} {
		info, err := s.Add(context.Background(), tg.engine, bytes.NewReader(data), AddOptions{CIDVersion: tg.version})
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.Open(context.Background(), info.Hash)
		if err != nil {
			t.Fatal(err)
		}
		size := int64(len(data))
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 200 {
			var off, want int64
			whence := i % 3
			switch whence {
			case io.SeekStart:
				want = rng.Int64N(size + 1)
				off = want
			case io.SeekCurrent:
				cur, err := f.Seek(0, io.SeekCurrent)
				if err != nil {
					t.Fatal(err)
				}
				want = rng.Int64N(size + 1)
				off = want - cur
			case io.SeekEnd:
				want = rng.Int64N(size + 1)
				off = want - size
			}
			pos, err := f.Seek(off, whence)
			if err != nil || pos != want {
				t.Fatalf("%s v%d: Seek(%d, %d) = %d, %v; want %d", tg.engine, tg.version, off, whence, pos, err, want)
			}
			n := rng.IntN(600 << 10)
			buf := make([]byte, n)
			got, err := io.ReadFull(f, buf)
			end := min(want+int64(n), size)
			if int64(got) != end-want || (err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF)) {
				t.Fatalf("%s: read %d at %d: got %d, %v", tg.engine, n, want, got, err)
			}
			if !bytes.Equal(buf[:got], data[want:end]) {
				t.Fatalf("%s v%d: bytes at [%d, %d) differ", tg.engine, tg.version, want, end)
			}
		}
		// Past the end: allowed, and reads give EOF.
		if pos, err := f.Seek(size+10, io.SeekStart); err != nil || pos != size+10 {
			t.Fatalf("%s: seek past end = %d, %v", tg.engine, pos, err)
		}
		if n, err := f.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Fatalf("%s: read past end = %d, %v", tg.engine, n, err)
		}
		if _, err := f.Seek(-1, io.SeekStart); err == nil {
			t.Fatalf("%s: negative seek accepted", tg.engine)
		}
		f.Close()
	}
}

func TestMaxSize(t *testing.T) {
	s, dir := openStore(t)
	const limit = 300 << 10 // over one IPFS chunk
	for _, e := range []Engine{Native, IPFS} {
		exact := randomBytes(11, limit)
		if _, err := s.Add(context.Background(), e, bytes.NewReader(exact), AddOptions{MaxSize: limit}); err != nil {
			t.Fatalf("%s: content of exactly MaxSize refused: %v", e, err)
		}
		for _, n := range []int{limit + 1, 3 * limit} {
			_, err := s.Add(context.Background(), e, bytes.NewReader(randomBytes(12, n)), AddOptions{MaxSize: limit})
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%s: %d bytes with MaxSize %d: err = %v, want ErrTooLarge", e, n, limit, err)
			}
		}
	}
	assertEmptyTmp(t, dir)
	if f, b := s.Usage(); f != 2 || b != 2*limit {
		t.Fatalf("Usage = %d, %d", f, b)
	}
	// Only the accepted IPFS file's blocks are left: root + 2 leaves.
	if got := len(blockFiles(t, dir)); got != 3 {
		t.Fatalf("%d blocks on disk, want 3", got)
	}
	if got := len(dirEntries(t, filepath.Join(dir, "storage"))); got != 1 {
		t.Fatalf("%d native files on disk, want 1", got)
	}
}

func TestCancelledAdd(t *testing.T) {
	s, dir := openStore(t)
	for _, e := range []Engine{Native, IPFS} {
		// The context is cancelled after 1 MiB has been read.
		ctx, cancel := context.WithCancel(context.Background())
		r := io.MultiReader(bytes.NewReader(randomBytes(1, 1<<20)), readerFunc(func(p []byte) (int, error) {
			cancel()
			return 0, io.EOF
		}), bytes.NewReader(randomBytes(2, 1<<20)))
		_, err := s.Add(ctx, e, r, AddOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: err = %v, want context.Canceled", e, err)
		}
	}
	assertEmptyTmp(t, dir)
	if n := len(blockFiles(t, dir)); n != 0 {
		t.Fatalf("%d blocks left", n)
	}
	if f, _ := s.Usage(); f != 0 {
		t.Fatalf("Usage files = %d", f)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestDeleteSharedBlocks(t *testing.T) {
	s, dir := openStore(t)
	ctx := context.Background()
	// With raw leaves, a one-chunk file is its own leaf, which is also the
	// first leaf of the two-chunk file that starts with it.
	big := randomBytes(5, 256<<10+100)
	small := big[:256<<10]
	a, err := s.Add(ctx, IPFS, bytes.NewReader(big), AddOptions{CIDVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Add(ctx, IPFS, bytes.NewReader(small), AddOptions{CIDVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(blockFiles(t, dir)); got != 3 { // a's root and 2 leaves, b = a's first leaf
		t.Fatalf("%d blocks, want 3", got)
	}
	bc := cid.MustParse(b.Hash)
	bs := s.Blockstore()
	if ok, err := bs.Has(ctx, bc); !ok || err != nil {
		t.Fatalf("Blockstore().Has(b) = %v, %v", ok, err)
	}
	blk, err := bs.Get(ctx, cid.MustParse(a.Hash))
	if err != nil {
		t.Fatal(err)
	}
	if chk, _ := cid.MustParse(a.Hash).Prefix().Sum(blk.RawData()); !chk.Equals(cid.MustParse(a.Hash)) {
		t.Fatal("Blockstore().Get returned wrong bytes")
	}

	for range 2 { // idempotent
		if err := s.Delete(ctx, a.Hash); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := s.Has(ctx, a.Hash); ok {
		t.Fatal("deleted file still there")
	}
	if _, err := s.Open(ctx, a.Hash); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open(deleted) err = %v", err)
	}
	if got := readAll(t, s, b.Hash); !bytes.Equal(got, small) {
		t.Fatal("shared file damaged by delete")
	}
	if ok, _ := bs.Has(ctx, bc); !ok {
		t.Fatal("shared block removed")
	}
	if got := len(blockFiles(t, dir)); got != 1 {
		t.Fatalf("%d blocks after delete, want 1", got)
	}
	if err := s.Delete(ctx, b.Hash); err != nil {
		t.Fatal(err)
	}
	if got := len(blockFiles(t, dir)); got != 0 {
		t.Fatalf("%d blocks after deleting all, want 0", got)
	}
	if f, n := s.Usage(); f != 0 || n != 0 {
		t.Fatalf("Usage = %d, %d", f, n)
	}

	// Native delete, idempotent.
	info, err := s.Add(ctx, Native, strings.NewReader("x"), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Delete(ctx, info.Hash); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := s.Has(ctx, info.Hash); ok {
		t.Fatal("deleted native file still there")
	}
	if f, n := s.Usage(); f != 0 || n != 0 {
		t.Fatalf("Usage = %d, %d", f, n)
	}
	assertEmptyTmp(t, dir)
}

func TestConcurrentAddsSameContent(t *testing.T) {
	s, dir := openStore(t)
	ctx := context.Background()
	data := randomBytes(9, 1<<20+5)
	for _, tg := range []struct {
		engine  Engine
		version int
	}{{Native, 0}, {IPFS, 0}, {IPFS, 1}} {
		const n = 8
		hashes := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				info, err := s.Add(ctx, tg.engine, bytes.NewReader(data), AddOptions{CIDVersion: tg.version})
				hashes[i], errs[i] = info.Hash, err
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || hashes[i] != hashes[0] {
				t.Fatalf("%s: add %d: %s, %v (first %s)", tg.engine, i, hashes[i], errs[i], hashes[0])
			}
		}
		if got := readAll(t, s, hashes[0]); !bytes.Equal(got, data) {
			t.Fatalf("%s: read back differs", tg.engine)
		}
	}
	if f, b := s.Usage(); f != 3 || b != 3*int64(len(data)) {
		t.Fatalf("Usage = %d, %d", f, b)
	}
	assertEmptyTmp(t, dir)
	// v0: root + 5 dag-pb leaves; v1: root + 5 raw leaves.
	if got := len(blockFiles(t, dir)); got != 12 {
		t.Fatalf("%d blocks, want 12", got)
	}
}

func TestConcurrentAddAndDelete(t *testing.T) {
	s, dir := openStore(t)
	ctx := context.Background()
	// Files sharing leaves (raw leaves, common prefix), added and deleted
	// at the same time; at the end every surviving file must read back and
	// no block may be left that no file uses.
	base := randomBytes(13, 4<<20)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			content := base[:(i+1)*(512<<10)+i]
			for range 3 {
				info, err := s.Add(ctx, IPFS, bytes.NewReader(content), AddOptions{CIDVersion: 1})
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if err := s.Delete(ctx, info.Hash); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	for i := 1; i < 6; i += 2 {
		content := base[:(i+1)*(512<<10)+i]
		h, _ := CID(bytes.NewReader(content), 1)
		if got := readAll(t, s, h); !bytes.Equal(got, content) {
			t.Fatalf("file %d damaged", i)
		}
		if err := s.Delete(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(blockFiles(t, dir)); got != 0 {
		t.Fatalf("%d blocks left", got)
	}
	assertEmptyTmp(t, dir)
}

func TestRecoverInterrupted(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keep, err := s.Add(ctx, IPFS, bytes.NewReader(randomBytes(1, 700<<10)), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.Add(ctx, IPFS, bytes.NewReader(randomBytes(2, 700<<10)), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Fatal("a second Store opened the same directory")
	}
	s.Close()

	// A delete interrupted after its rename to tmp/, after it removed one
	// shared block but not yet the file's own link to it.
	trash := filepath.Join(dir, "tmp", "del-1")
	if err := os.Rename(filepath.Join(dir, "ipfs", "files", shard(gone.Hash), gone.Hash), trash); err != nil {
		t.Fatal(err)
	}
	names, err := readNames(trash)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if isBlockKey(name) {
			if err := os.Remove(s.blockPath(name)); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	// A native add interrupted before its rename.
	if err := os.WriteFile(filepath.Join(dir, "tmp", "native-123"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An IPFS add interrupted while staging.
	stage := filepath.Join(dir, "tmp", "ipfs-9")
	if err := os.Mkdir(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stage, "CIQSTAGED"), []byte("block"), 0o644); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	assertEmptyTmp(t, dir)
	if f, _ := s.Usage(); f != 1 {
		t.Fatalf("Usage files = %d, want 1", f)
	}
	if got := len(blockFiles(t, dir)); got != 4 { // root + 3 leaves of keep
		t.Fatalf("%d blocks, want 4", got)
	}
	if got := readAll(t, s, keep.Hash); len(got) != 700<<10 {
		t.Fatal("kept file damaged")
	}
}

func TestBadAndMissingHashes(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	for _, h := range []string{"", "nope", strings.Repeat("A", 64), "../../etc/passwd", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQ"} {
		if _, err := s.Open(ctx, h); !errors.Is(err, ErrBadHash) {
			t.Errorf("Open(%q) err = %v", h, err)
		}
		if _, err := s.Stat(ctx, h); !errors.Is(err, ErrBadHash) {
			t.Errorf("Stat(%q) err = %v", h, err)
		}
		if _, err := s.Has(ctx, h); !errors.Is(err, ErrBadHash) {
			t.Errorf("Has(%q) err = %v", h, err)
		}
		if err := s.Delete(ctx, h); !errors.Is(err, ErrBadHash) {
			t.Errorf("Delete(%q) err = %v", h, err)
		}
	}
	for _, h := range []string{strings.Repeat("a", 64), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"} {
		if _, err := s.Open(ctx, h); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) err = %v", h, err)
		}
		if _, err := s.Stat(ctx, h); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat(%q) err = %v", h, err)
		}
		if ok, err := s.Has(ctx, h); ok || err != nil {
			t.Errorf("Has(%q) = %v, %v", h, ok, err)
		}
	}
	if _, err := s.Add(ctx, "s3", strings.NewReader("x"), AddOptions{}); err == nil {
		t.Error("unknown engine accepted")
	}
	if _, err := s.Add(ctx, IPFS, strings.NewReader("x"), AddOptions{CIDVersion: 2}); err == nil {
		t.Error("CID version 2 accepted")
	}
}

func TestBlockstoreAllKeys(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	info, err := s.Add(ctx, IPFS, bytes.NewReader(randomBytes(4, 600<<10)), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.Blockstore().AllKeysChan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root := cid.MustParse(info.Hash)
	n, sawRoot := 0, false
	for c := range ch {
		n++
		if string(c.Hash()) == string(root.Hash()) {
			sawRoot = true
		}
		if _, err := s.Blockstore().GetSize(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if n != 4 || !sawRoot {
		t.Fatalf("AllKeysChan gave %d keys (root seen: %v), want 4 with the root", n, sawRoot)
	}
}
