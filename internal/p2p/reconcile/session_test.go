package reconcile

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// msg is a message of a test set: an Aleph time and item hash.
type msg struct {
	time float64
	hash string
}

// hexHash returns a sha256 item hash derived from n.
func hexHash(seed uint64, n int) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(n))
	h := sha256.Sum256(b[:])
	return hex.EncodeToString(h[:])
}

// cidHash returns a CID-looking item hash derived from n.
func cidHash(n int) string {
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := []byte("Qm")
	for len(b) < 46 {
		b = append(b, alphabet[r.IntN(len(alphabet))])
	}
	return string(b)
}

func snapshotOf(ms []msg) *Snapshot {
	b := NewBuilder(len(ms))
	for _, m := range ms {
		b.Add(m.time, m.hash)
	}
	return b.Build()
}

// exchange runs a session between a and b in memory, a initiating, and
// returns both results.
func exchange(t testing.TB, a, b Storage, opts ...Option) (Result, Result) {
	t.Helper()
	sa, sb := NewSession(a, opts...), NewSession(b, opts...)
	out, err := sa.Initiate()
	if err != nil {
		t.Fatal(err)
	}
	cur, other := sb, sa
	for out != nil {
		if out, err = cur.Step(out); err != nil {
			t.Fatalf("step %d: %v", cur.Stats().Messages, err)
		}
		cur, other = other, cur
	}
	if !sa.Done() || !sb.Done() {
		t.Fatalf("session not over on both sides: %v %v", sa.Done(), sb.Done())
	}
	return sa.Result(), sb.Result()
}

// difference returns the hashes of x not in y, sorted.
func difference(x, y []msg) []string {
	in := make(map[string]bool, len(y))
	for _, m := range y {
		in[m.hash] = true
	}
	var d []string
	for _, m := range x {
		if !in[m.hash] {
			d = append(d, m.hash)
		}
	}
	slices.Sort(d)
	return slices.Compact(d)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// check runs a session both ways and asserts that each side learns exactly
// the set differences.
func check(t *testing.T, a, b []msg, opts ...Option) (Result, Result) {
	t.Helper()
	sa, sb := snapshotOf(a), snapshotOf(b)
	aOnly, bOnly := difference(a, b), difference(b, a)
	ra, rb := exchange(t, sa, sb, opts...)
	for _, c := range []struct {
		name string
		got  []string
		want []string
	}{
		{"initiator have", sorted(ra.Have), aOnly},
		{"initiator need", ra.Need, bOnly},
		{"responder have", sorted(rb.Have), bOnly},
		{"responder need", rb.Need, aOnly},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Fatalf("%s: got %d items, want %d\n got  %.5q\n want %.5q", c.name, len(c.got), len(c.want), c.got, c.want)
		}
	}
	// Applying the result makes the sets equal.
	merged := snapshotOf(append(slices.Clone(a), b...))
	ra2, _ := exchange(t, merged, merged, opts...)
	if len(ra2.Have)+len(ra2.Need) != 0 {
		t.Fatal("identical sets reported differences")
	}
	return ra, rb
}

// sets builds two sets with common items and items on one side only.
type sets struct {
	common, onlyA, onlyB int
	// times draws the time of item i of n.
	times func(r *rand.Rand, i, n int) float64
	cids  bool // one item in 5 has a CID item hash
}

func (s sets) build(seed uint64) (a, b []msg) {
	r := rand.New(rand.NewPCG(seed, 1))
	times := s.times
	if times == nil {
		times = func(r *rand.Rand, _, _ int) float64 { return 1.6e9 + r.Float64()*1e8 }
	}
	n := s.common + s.onlyA + s.onlyB
	all := make([]msg, n)
	for i := range all {
		h := hexHash(seed, i)
		if s.cids && i%5 == 0 {
			h = cidHash(int(seed)*1_000_000 + i)
		}
		all[i] = msg{times(r, i, n), h}
	}
	r.Shuffle(n, func(i, j int) { all[i], all[j] = all[j], all[i] })
	common := all[:s.common]
	a = append(slices.Clone(common), all[s.common:s.common+s.onlyA]...)
	b = append(slices.Clone(common), all[s.common+s.onlyA:]...)
	return a, b
}

func TestReconcile(t *testing.T) {
	sameTime := func(*rand.Rand, int, int) float64 { return 1.7e9 }
	fewTimes := func(r *rand.Rand, _, _ int) float64 { return 1.7e9 + float64(r.IntN(4)) }
	recent := func(r *rand.Rand, i, n int) float64 { return 1.6e9 + float64(i) }
	for _, c := range []struct {
		name string
		sets
		opts []Option
	}{
		{name: "both empty", sets: sets{}},
		{name: "empty initiator", sets: sets{onlyB: 1000}},
		{name: "empty responder", sets: sets{onlyA: 1000}},
		{name: "one vs many", sets: sets{onlyA: 1, onlyB: 5000}},
		{name: "many vs one", sets: sets{onlyA: 5000, onlyB: 1}},
		{name: "one common vs many", sets: sets{common: 1, onlyB: 3000}},
		{name: "identical", sets: sets{common: 10000}},
		{name: "identical single", sets: sets{common: 1}},
		{name: "all different", sets: sets{onlyA: 3000, onlyB: 3000}},
		{name: "few differences", sets: sets{common: 20000, onlyA: 7, onlyB: 9}},
		{name: "one side differs", sets: sets{common: 20000, onlyA: 50}},
		{name: "many differences", sets: sets{common: 5000, onlyA: 2000, onlyB: 2000}},
		{name: "duplicate timestamps", sets: sets{common: 5000, onlyA: 40, onlyB: 40, times: sameTime}},
		{name: "few timestamps", sets: sets{common: 5000, onlyA: 40, onlyB: 40, times: fewTimes}},
		{name: "recent differences", sets: sets{common: 5000, onlyA: 30, onlyB: 30, times: recent}},
		{name: "cids", sets: sets{common: 5000, onlyA: 100, onlyB: 100, cids: true}},
		{name: "cids all different", sets: sets{onlyA: 500, onlyB: 500, cids: true}},
		{name: "small frames, large difference", sets: sets{common: 3000, onlyA: 20000, onlyB: 15000},
			opts: []Option{WithMaxFrame(MinFrame)}},
		{name: "small frames, empty side", sets: sets{onlyA: 30000, cids: true}, opts: []Option{WithMaxFrame(MinFrame)}},
		{name: "small frames, same time", sets: sets{common: 100, onlyB: 20000, times: sameTime},
			opts: []Option{WithMaxFrame(MinFrame)}},
		{name: "two buckets", sets: sets{common: 3000, onlyA: 30, onlyB: 30}, opts: []Option{WithBuckets(2), WithListThreshold(1)}},
		{name: "wide buckets", sets: sets{common: 3000, onlyA: 30, onlyB: 30}, opts: []Option{WithBuckets(64), WithListThreshold(64)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for seed := range uint64(3) {
				a, b := c.build(seed)
				check(t, a, b, c.opts...)
			}
		})
	}
}

// TestReconcileRandom draws many small random pairs of sets.
func TestReconcileRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	for i := range 300 {
		s := sets{common: r.IntN(300), onlyA: r.IntN(40), onlyB: r.IntN(40), cids: r.IntN(2) == 0}
		if r.IntN(3) == 0 {
			s.times = func(r *rand.Rand, _, _ int) float64 { return float64(r.IntN(5)) }
		}
		opts := []Option{WithBuckets(2 + r.IntN(20)), WithListThreshold(r.IntN(70))}
		a, b := s.build(uint64(i))
		t.Run(fmt.Sprint(i), func(t *testing.T) { check(t, a, b, opts...) })
	}
}

func TestDuplicatesInInput(t *testing.T) {
	a := []msg{{1, hexHash(0, 1)}, {1, hexHash(0, 1)}, {2, hexHash(0, 2)}}
	b := []msg{{1, hexHash(0, 1)}}
	ra, _ := check(t, a, b)
	if len(ra.Have) != 1 {
		t.Fatalf("have %q", ra.Have)
	}
}

func TestUnsupportedVersion(t *testing.T) {
	s := NewSession(snapshotOf(nil))
	out, err := s.Step([]byte{Version + 1})
	if !errors.Is(err, ErrUnsupportedVersion) || !slices.Equal(out, []byte{Version}) {
		t.Fatalf("got %x, %v", out, err)
	}
	i := NewSession(snapshotOf(nil))
	if _, err := i.Initiate(); err != nil {
		t.Fatal(err)
	}
	if _, err := i.Step(out); err != nil {
		// The answer carries our own version: it is understood.
		t.Fatalf("answer: %v", err)
	}
}

func TestMaxMessages(t *testing.T) {
	a, b := sets{common: 100000, onlyA: 100, onlyB: 100}.build(1)
	sa := NewSession(snapshotOf(a), WithMaxMessages(3))
	sb := NewSession(snapshotOf(b), WithMaxMessages(100))
	out, _ := sa.Initiate()
	var err error
	cur := sb
	for out != nil && err == nil {
		out, err = cur.Step(out)
		cur = map[*Session]*Session{sa: sb, sb: sa}[cur]
	}
	if !errors.Is(err, ErrTooManyMessages) {
		t.Fatalf("got %v", err)
	}
}

func TestMaxNeed(t *testing.T) {
	_, b := sets{onlyB: 1000}.build(1)
	sa := NewSession(snapshotOf(nil), WithMaxNeed(100))
	sb := NewSession(snapshotOf(b))
	out, _ := sa.Initiate()
	out, _ = sb.Step(out)
	out, err := sa.Step(out)
	for err == nil && out != nil {
		if out, err = sb.Step(out); err == nil && out != nil {
			out, err = sa.Step(out)
		}
	}
	if !errors.Is(err, ErrTooManyNeeded) {
		t.Fatalf("got %v", err)
	}
	if n := len(sa.Result().Need); n != 100 {
		t.Fatalf("partial result of %d items", n)
	}
}

func TestTimeKey(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want uint64
	}{
		{-1, 0}, {0, 0}, {1.5, 1_500_000}, {1700000000.123456, 1700000000123456},
		{253402300799.999, 253402300799999008}, // float64 rounding, the same everywhere
		{1e300, MaxTime},
	} {
		if got := TimeKey(c.in); got != c.want {
			t.Errorf("TimeKey(%v) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestHashID(t *testing.T) {
	h := hexHash(1, 1)
	id := HashID(h)
	if hex.EncodeToString(id[:]) != h {
		t.Fatal("hex hash is not its own id")
	}
	cid := cidHash(1)
	if HashID(cid) != sha256.Sum256([]byte(cid)) {
		t.Fatal("cid id")
	}
	up := []byte(h)
	for i := range up {
		if up[i] >= 'a' {
			up[i] -= 'a' - 'A'
		}
	}
	if HashID(string(up)) == id {
		t.Fatal("upper-case hex shares the id of lower-case hex")
	}
	for _, c := range []byte("gz/:@`G ") {
		bad := []byte(h)
		bad[17] = c
		if _, ok := decodeHexHash(string(bad)); ok {
			t.Fatalf("%q accepted as hex", bad)
		}
	}
}

func TestSnapshotSum(t *testing.T) {
	a, _ := sets{common: 1000}.build(3)
	s := snapshotOf(a)
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		lo := r.IntN(s.Len() + 1)
		hi := lo + r.IntN(s.Len()-lo+1)
		var want Sum
		for i := lo; i < hi; i++ {
			id := s.At(i).ID
			want.Add(&id)
		}
		if got := s.Sum(lo, hi); got != want {
			t.Fatalf("Sum(%d, %d) = %x, want %x", lo, hi, got, want)
		}
	}
}

func TestMalformed(t *testing.T) {
	a, _ := sets{common: 100}.build(1)
	st := snapshotOf(a)
	fp := make([]byte, fingerprintSize)
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"bad mode", []byte{Version, 0, 0, 9}},
		{"truncated fingerprint", append([]byte{Version, 0, 0, modeFingerprint}, fp[:5]...)},
		{"long prefix", []byte{Version, 1, 33}},
		{"prefix out of order", []byte{Version, 5, 1, 9, modeSkip, 1, 1, 8, modeSkip}},
		{"list longer than message", []byte{Version, 0, 0, modeIDList, 5, 0}},
		{"list over the limit", []byte{Version, 0, 0, modeIDList, 0x81, 0x08}},
		{"short item hash", []byte{Version, 0, 0, modeIDList, 1, 3, 'a', 'b', 'c'}},
		{"item hash with a slash", append([]byte{Version, 0, 0, modeIDList, 1, 16}, "aaaaaaaa/aaaaaaa"...)},
		{"index out of range", []byte{Version, 0, 0, modeIDDiff, 0, 1, 100}},
		{"bad varint", []byte{Version, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewSession(st)
			out, err := s.Step(c.msg)
			if !errors.Is(err, ErrMalformed) || out != nil {
				t.Fatalf("got %x, %v", out, err)
			}
			if _, err := s.Step([]byte{Version}); !errors.Is(err, ErrMalformed) {
				t.Fatalf("session goes on after an error: %v", err)
			}
		})
	}
}
