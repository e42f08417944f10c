// Command fill creates a core node data directory holding many processed
// POST messages, for read benchmarks (bench/query.sh).
//
// It writes directly through the SQLite store (sqlite.Open, then Update in
// large batches with InsertMessage and InsertPost), which is what the node's
// applier does, without the HTTP API or signature checks. Rows look like
// real ones: item_content is the compact JSON an SDK writes (keys type,
// address, content, time), item_hash = sha256(item_content), content is
// parsed with message.ParseContent as the node does, senders are real ETH
// addresses, every message has its own time, and senders and channels are
// spread uniformly (so every sender has about n/senders messages and every
// channel about n/channels). Signatures have the right shape but do not
// verify unless -sign is given; they are never re-verified on read.
//
// The senders' keys are derived from -seed, so two fills with the same
// flags hold the same senders. The last line printed is
// "FILL key=value …" with the time taken and one sender and one channel to
// query.
//
//	go run ./bench/fill -dir /tmp/aleph-fill -n 1000000
//	aleph node run --data-dir /tmp/aleph-fill
package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"
	"unicode/utf8"

	"github.com/goaleph/goaleph/bench/internal/benchutil"
	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/sqlite"
	"github.com/goaleph/goaleph/message"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.dir, "dir", "", "data directory to create (must not hold a database yet)")
	flag.IntVar(&cfg.n, "n", 1_000_000, "number of POST messages")
	flag.IntVar(&cfg.senders, "senders", 1000, "distinct senders")
	flag.IntVar(&cfg.channels, "channels", 50, "distinct channels")
	flag.IntVar(&cfg.batch, "batch", 20000, "messages per write transaction")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the keys and of the random content")
	flag.BoolVar(&cfg.sign, "sign", false, "make valid signatures (slower)")
	flag.Parse()
	if cfg.dir == "" || cfg.n <= 0 || cfg.senders <= 0 || cfg.channels <= 0 || cfg.batch <= 0 {
		fmt.Fprintln(os.Stderr, "fill: -dir is required; -n, -senders, -channels and -batch must be positive")
		os.Exit(2)
	}
	if err := run(context.Background(), cfg); err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		os.Exit(1)
	}
}

type config struct {
	dir                  string
	n, senders, channels int
	batch                int
	seed                 uint64
	sign                 bool
}

// Time span of the generated messages: 2021-01-01 to 2026-01-01 UTC.
const (
	firstTime = 1609459200.0
	lastTime  = 1767225600.0
)

var postTypes = []string{"chat", "blog", "note", "comment", "like", "profile", "event", "test"}

var words = []string{"aleph", "node", "message", "post", "storage", "compute", "network", "chain", "ipfs",
	"hello", "world", "decentralized", "cloud", "program", "instance", "volume", "balance", "token",
	"the", "a", "of", "and", "to", "in", "is", "for", "on", "with", "this", "that"}

// row is one generated message with its projections.
type row struct {
	rec  store.Record
	post store.Post
}

func run(ctx context.Context, cfg config) error {
	dbPath := filepath.Join(cfg.dir, "aleph.db")
	if _, err := os.Stat(dbPath); err == nil {
		return fmt.Errorf("%s already exists", dbPath)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	accts := make([]*eth.Account, cfg.senders)
	for i := range accts {
		k := sha256.Sum256(fmt.Appendf(nil, "goaleph bench fill key %d/%d", cfg.seed, i))
		a, err := eth.AccountFromHex(hex.EncodeToString(k[:]))
		if err != nil {
			return fmt.Errorf("key %d: %w", i, err)
		}
		accts[i] = a
	}
	channels := make([]string, cfg.channels)
	for i := range channels {
		channels[i] = fmt.Sprintf("BENCH-CHANNEL-%02d", i)
	}

	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			db.Close()
		}
	}()

	start := time.Now()
	busy0, _ := benchutil.MachineBusy()
	cpu0 := benchutil.OwnCPU()
	// Producers build batches on all CPUs but one, the writer inserts them
	// in order.
	nBatches := (cfg.n + cfg.batch - 1) / cfg.batch
	workers := max(runtime.GOMAXPROCS(0)-1, 1)
	type batchOut struct {
		rows []row
		err  error
	}
	outs := make([]chan batchOut, nBatches)
	for i := range outs {
		outs[i] = make(chan batchOut, 1)
	}
	sem := make(chan struct{}, workers+1) // bounds batches held in memory
	go func() {
		for b := range nBatches {
			sem <- struct{}{}
			go func() {
				rows, err := genBatch(cfg, accts, channels, b)
				outs[b] <- batchOut{rows, err}
			}()
		}
	}()
	written := 0
	for b := range nBatches {
		out := <-outs[b]
		if out.err != nil {
			return out.err
		}
		err := db.Update(ctx, func(tx store.Tx) error {
			for i := range out.rows {
				r := &out.rows[i]
				if _, err := tx.InsertMessage(&r.rec); err != nil {
					return err
				}
				if err := tx.InsertPost(&r.post); err != nil {
					return err
				}
			}
			return nil
		})
		<-sem
		if err != nil {
			return fmt.Errorf("batch %d: %w", b, err)
		}
		written += len(out.rows)
		if b%10 == 9 || b == nBatches-1 {
			el := time.Since(start).Seconds()
			fmt.Printf("%d messages, %.0f s, %.0f msg/s\n", written, el, float64(written)/el)
		}
	}
	el := time.Since(start)
	busy1, _ := benchutil.MachineBusy()
	others := max(busy1-busy0-(benchutil.OwnCPU()-cpu0), 0) / el.Seconds()
	closed = true
	if err := db.Close(); err != nil {
		return err
	}
	var size int64
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if st, err := os.Stat(dbPath + suffix); err == nil {
			size += st.Size()
		}
	}
	fmt.Printf("FILL n=%d senders=%d channels=%d seconds=%.1f rate=%.0f db_mb=%.0f other_cpus=%.2f sender=%s channel=%s\n",
		written, cfg.senders, cfg.channels, el.Seconds(), float64(written)/el.Seconds(), float64(size)/(1<<20),
		others, accts[0].Address(), channels[0])
	return nil
}

// genBatch builds batch b: messages b*cfg.batch up to the next batch.
func genBatch(cfg config, accts []*eth.Account, channels []string, b int) ([]row, error) {
	lo := b * cfg.batch
	hi := min(lo+cfg.batch, cfg.n)
	rng := rand.New(rand.NewPCG(cfg.seed, uint64(b)))
	step := (lastTime - firstTime) / float64(cfg.n)
	rows := make([]row, 0, hi-lo)
	for i := lo; i < hi; i++ {
		a := accts[rng.IntN(len(accts))]
		channel := channels[rng.IntN(len(channels))]
		// Increasing, distinct, millisecond-ish precision like the SDKs.
		envTime := firstTime + float64(i)*step + rng.Float64()*step*0.9
		envTime = float64(int64(envTime*1e6)) / 1e6
		contentTime := envTime - 0.001 - rng.Float64()*0.05
		item, err := json.Marshal(benchutil.PostContent{
			Type:    postTypes[rng.IntN(len(postTypes))],
			Address: a.Address(),
			Content: body(rng, i),
			Time:    contentTime,
		})
		if err != nil {
			return nil, err
		}
		m := message.Message{
			Chain:       "ETH",
			Sender:      a.Address(),
			Type:        message.TypePost,
			ItemType:    message.ItemInline,
			ItemContent: string(item),
			ItemHash:    message.InlineHash(string(item)),
			Time:        envTime,
			Channel:     channel,
		}
		if cfg.sign {
			if err := message.Sign(a, &m); err != nil {
				return nil, err
			}
		} else {
			m.Signature = fakeSignature(m.VerificationBuffer())
		}
		c, err := message.ParseContent(&m, item)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		rows = append(rows, row{
			rec: store.Record{
				Message:       m,
				Content:       c.Raw,
				Size:          int64(utf8.RuneCount(item)),
				Status:        store.StatusProcessed,
				ReceptionTime: envTime + 0.2 + rng.Float64()*2,
				Owner:         c.Address,
				ContentType:   c.Post.Type,
				ContentRef:    c.Post.Ref,
			},
			post: store.Post{
				ItemHash:     m.ItemHash,
				Owner:        c.Address,
				Type:         c.Post.Type,
				Ref:          c.Post.Ref,
				Channel:      m.Channel,
				Content:      c.Post.Content,
				CreationTime: c.Time,
			},
		})
	}
	return rows, nil
}

type postBody struct {
	Title string   `json:"title"`
	Body  string   `json:"body"`
	Tags  []string `json:"tags,omitempty"`
	Seq   int      `json:"seq"`
}

// body returns a user content of 50 to 600 bytes or so.
func body(rng *rand.Rand, i int) postBody {
	text := func(n int) string {
		b := make([]byte, 0, n*8)
		for j := range n {
			if j > 0 {
				b = append(b, ' ')
			}
			b = append(b, words[rng.IntN(len(words))]...)
		}
		return string(b)
	}
	p := postBody{Title: text(2 + rng.IntN(5)), Body: text(5 + rng.IntN(80)), Seq: i}
	for range rng.IntN(3) {
		p.Tags = append(p.Tags, words[rng.IntN(len(words))])
	}
	return p
}

// fakeSignature returns a well-formed but invalid 65-byte r‖s‖v signature
// derived from the buffer (deterministic, distinct per message).
func fakeSignature(buffer []byte) string {
	r := sha256.Sum256(buffer)
	s := sha256.Sum256(r[:])
	s[0] &= 0x7f // low s, like real signatures
	sig := make([]byte, 0, 65)
	sig = append(sig, r[:]...)
	sig = append(sig, s[:]...)
	sig = append(sig, 27+byte(binary.BigEndian.Uint16(r[30:])&1))
	return "0x" + hex.EncodeToString(sig)
}
