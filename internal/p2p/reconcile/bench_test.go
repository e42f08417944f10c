package reconcile

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks reconcile two sets of 1,000,000 common items plus a few
// differences, the acceptance case of peer catch-up. Each reports the bytes
// on the wire (frames of both directions) against sending every hash
// (32 bytes each, "pct-of-raw"; hex would be twice that), the messages and
// the round trips. Run with:
//
//	go test -run XXX -bench . -benchtime 5x ./internal/p2p/reconcile

const benchCommon = 1_000_000

// benchItems returns n items with random ids and times spread over three
// years, in (time, id) order as a database index would return them.
func benchItems(r *rand.Rand, n int, from, span float64) []Item {
	items := make([]Item, n)
	for i := range items {
		items[i].Time = TimeKey(from + r.Float64()*span)
		for j := 0; j < len(ID{}); j += 8 {
			binary.LittleEndian.PutUint64(items[i].ID[j:], r.Uint64())
		}
	}
	slices.SortFunc(items, Item.Compare)
	return items
}

func snapshotOfItems(sets ...[]Item) *Snapshot {
	n := 0
	for _, s := range sets {
		n += len(s)
	}
	b := NewBuilder(n)
	for _, s := range sets {
		for _, it := range s {
			b.AddItem(it)
		}
	}
	return b.Build()
}

const (
	start = 1.6e9
	span  = 3 * 365 * 86400.0
)

type benchCase struct {
	name         string
	onlyA, onlyB int
	recent       bool // the differences are in the last hour, as after an outage
	fresh        bool // A holds nothing: a new node syncing the 1M items from B
}

var benchCases = []benchCase{
	{name: "50+50", onlyA: 50, onlyB: 50},
	{name: "0+100", onlyB: 100},
	{name: "100+0", onlyA: 100},
	{name: "50+50-recent", onlyA: 50, onlyB: 50, recent: true},
	{name: "500+500", onlyA: 500, onlyB: 500},
	{name: "5000+5000", onlyA: 5000, onlyB: 5000},
	{name: "fresh", fresh: true},
}

var (
	benchOnce   sync.Once
	commonCache []Item
)

func commonItems() []Item {
	benchOnce.Do(func() {
		commonCache = benchItems(rand.New(rand.NewPCG(1, 1)), benchCommon, start, span)
	})
	return commonCache
}

func (c benchCase) snapshots() (*Snapshot, *Snapshot) {
	r := rand.New(rand.NewPCG(2, 2))
	from, sp := start, span
	if c.recent {
		from, sp = start+span-3600, 3600
	}
	common := commonItems()
	if c.fresh {
		return snapshotOfItems(), snapshotOfItems(common)
	}
	a := snapshotOfItems(common, benchItems(r, c.onlyA, from, sp))
	b := snapshotOfItems(common, benchItems(r, c.onlyB, from, sp))
	return a, b
}

// countConn counts the bytes written and delays each write by the one-way
// latency of a link.
type countConn struct {
	net.Conn
	written *atomic.Int64
	delay   time.Duration
}

func (c countConn) Write(p []byte) (int, error) {
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	c.written.Add(int64(len(p)))
	return c.Conn.Write(p)
}

func benchPipe(b *testing.B, c benchCase, oneWay time.Duration) {
	sa, sb := c.snapshots()
	raw := float64(32 * (benchCommon + c.onlyA + c.onlyB))
	var ra, rb Result
	var wire atomic.Int64
	b.ResetTimer()
	for b.Loop() {
		wire.Store(0)
		pa, pb := net.Pipe()
		ca := countConn{pa, &wire, oneWay}
		cb := countConn{pb, &wire, oneWay}
		var wg sync.WaitGroup
		var errB error
		wg.Go(func() { rb, errB = Serve(context.Background(), cb, sb) })
		var err error
		ra, err = Sync(context.Background(), ca, sa)
		wg.Wait()
		pa.Close()
		pb.Close()
		if err != nil || errB != nil {
			b.Fatal(err, errB)
		}
	}
	b.StopTimer()
	onlyA, onlyB := c.onlyA, c.onlyB
	if c.fresh {
		onlyB = benchCommon
	}
	if len(ra.Have) != onlyA || len(ra.Need) != onlyB || len(rb.Have) != onlyB || len(rb.Need) != onlyA {
		b.Fatalf("wrong difference: %d/%d %d/%d", len(ra.Have), len(ra.Need), len(rb.Have), len(rb.Need))
	}
	b.ReportMetric(float64(wire.Load()), "wire-bytes")
	b.ReportMetric(100*float64(wire.Load())/raw, "pct-of-raw")
	b.ReportMetric(float64(ra.Stats.Messages), "messages")
	b.ReportMetric(float64((ra.Stats.Messages+1)/2), "round-trips")
}

// BenchmarkPipe reconciles over net.Pipe, Sync and Serve in two goroutines.
func BenchmarkPipe(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) { benchPipe(b, c, 0) })
	}
}

// BenchmarkPipeLatency adds 50 ms to every message (a 100 ms round trip).
func BenchmarkPipeLatency(b *testing.B) {
	for _, c := range benchCases[:2] {
		b.Run(c.name, func(b *testing.B) { benchPipe(b, c, 50*time.Millisecond) })
	}
}

// BenchmarkSnapshot measures building the snapshot of 1M items that a
// session works on, from items in index order, shuffled, and from (time,
// item hash string) pairs as read from the database.
func BenchmarkSnapshot(b *testing.B) {
	common := commonItems()
	shuffled := slices.Clone(common)
	rand.New(rand.NewPCG(3, 3)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	// Rows as the database returns them: ordered by time then item hash.
	type row struct {
		time float64
		hash string
	}
	rows := make([]row, len(common))
	for i, it := range common {
		rows[i] = row{float64(it.Time) / 1e6, hex.EncodeToString(it.ID[:])}
	}
	slices.SortFunc(rows, func(x, y row) int {
		return Item{TimeKey(x.time), HashID(x.hash)}.Compare(Item{TimeKey(y.time), HashID(y.hash)})
	})
	for _, c := range []struct {
		name  string
		build func() *Snapshot
	}{
		{"sorted", func() *Snapshot { return snapshotOfItems(common) }},
		{"shuffled", func() *Snapshot { return snapshotOfItems(shuffled) }},
		{"strings", func() *Snapshot {
			bl := NewBuilder(len(rows))
			for _, r := range rows {
				bl.Add(r.time, r.hash)
			}
			return bl.Build()
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if s := c.build(); s.Len() != len(common) {
					b.Fatal(s.Len())
				}
			}
		})
	}
}

func ExampleSync() {
	a, b := NewBuilder(0), NewBuilder(0)
	for i := range 1000 {
		h := fmt.Sprintf("%064x", i)
		a.Add(1.7e9+float64(i), h)
		if i%100 != 7 {
			b.Add(1.7e9+float64(i), h)
		}
	}
	b.Add(1.7e9, "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
	ca, cb := net.Pipe()
	go Serve(context.Background(), cb, b.Build())
	r, err := Sync(context.Background(), ca, a.Build())
	fmt.Println(len(r.Have), r.Need, err)
	// Output: 10 [QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG] <nil>
}
