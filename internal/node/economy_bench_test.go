package node

import (
	"context"
	"fmt"
	"math/big"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// fundedAddresses is how many addresses the admission benchmarks fund.
const fundedAddresses = 100_000

// benchEconomy starts a node (quotas on or off) with fundedAddresses
// funded addresses, the first len(owners) of them the owners' (each also
// holding one earlier program), and the code and runtime STOREs; it returns
// the node and a PROGRAM maker.
func benchEconomy(b *testing.B, quota bool, owners []message.Signer) (*Node, func(a message.Signer, tm float64) *message.Message) {
	b.Helper()
	n := testNode(b, Config{Economy: EconomyConfig{Quota: quota}, DataDir: b.TempDir()})
	setup := ethtest.Account(b)
	tt := b
	code, runtime := storeFile(tt, n, setup, "code"), storeFile(tt, n, setup, "runtime")
	rows := make([]store.Balance, 0, fundedAddresses)
	amount := new(big.Int).Mul(big.NewInt(1000), big.NewInt(1e18))
	for i := range fundedAddresses {
		addr := fmt.Sprintf("0x%040x", i+1)
		if i < len(owners) {
			addr = owners[i].Address()
		}
		rows = append(rows, store.Balance{Address: addr, Chain: "ETH", Amount: amount, Height: 1})
	}
	if err := n.store.Update(context.Background(), func(tx store.Tx) error {
		if _, err := tx.UpdateBalances(rows); err != nil {
			return err
		}
		for i, o := range owners { // an earlier program each
			if err := tx.PutCost(&store.Cost{ItemHash: fmt.Sprintf("%064x", i), Owner: o.Address(), Time: 1780000000,
				PaymentType: "hold", Hold: big.NewInt(200), Stream: new(big.Int), Credit: new(big.Int)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return n, func(a message.Signer, tm float64) *message.Message {
		return at(tt, a, message.TypeProgram, tm, program(code.ItemHash, runtime.ItemHash, false, ""))
	}
}

func owners(b *testing.B, k int) []message.Signer {
	out := make([]message.Signer, k)
	for i := range out {
		out[i] = ethtest.Account(b)
	}
	return out
}

// BenchmarkAdmission is the cost of admitting one PROGRAM (pricing, its
// volumes' sizes, the owner's balance at its time and earlier costs) on a
// node with 100,000 funded addresses.
func BenchmarkAdmission(b *testing.B) {
	os := owners(b, 1000)
	n, mk := benchEconomy(b, true, os)
	items := make([]*item, len(os))
	for i, o := range os {
		m := mk(o, 1780000100+float64(i))
		c, err := message.ParseContent(m, []byte(m.ItemContent))
		if err != nil {
			b.Fatal(err)
		}
		items[i] = &item{msg: m, content: c}
	}
	b.ResetTimer()
	cpu0 := processCPU(b)
	err := n.store.Update(context.Background(), func(tx store.Tx) error {
		for i := 0; i < b.N; i++ {
			if _, err := n.admit(context.Background(), tx, items[i%len(items)]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	// The process CPU per admission: steadier than the wall time on a
	// loaded machine (it includes the node's background work).
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkIngestQuota processes PROGRAM messages from funded owners on a
// node with quotas on and one with quotas off, in the same run, in
// alternating rounds (so that a change of the machine's load hits both),
// and reports both rates, the process CPU time per message and the ratios
// (on / off: ≥ 0.9 is the target).
func BenchmarkIngestQuota(b *testing.B) {
	const perRound, rounds, clients = 500, 4, 32
	os := owners(b, perRound)
	nodes := map[bool]*Node{}
	makers := map[bool]func(message.Signer, float64) *message.Message{}
	for _, quota := range []bool{false, true} {
		nodes[quota], makers[quota] = benchEconomy(b, quota, os)
	}
	wall, cpu := map[bool]time.Duration{}, map[bool]time.Duration{}
	for r := range rounds {
		for _, quota := range []bool{r%2 == 0, r%2 != 0} {
			batch := make([]*message.Message, perRound)
			for i, o := range os {
				batch[i] = makers[quota](o, 1780000100+float64(r*perRound+i))
			}
			w, c := ingest(b, nodes[quota], batch, clients)
			wall[quota] += w
			cpu[quota] += c
		}
	}
	total := float64(perRound * rounds)
	b.ReportMetric(total/wall[false].Seconds(), "msg/s-off")
	b.ReportMetric(total/wall[true].Seconds(), "msg/s-on")
	b.ReportMetric(wall[false].Seconds()/wall[true].Seconds(), "ratio-wall")
	b.ReportMetric(float64(cpu[false].Microseconds())/total, "cpu-µs/msg-off")
	b.ReportMetric(float64(cpu[true].Microseconds())/total, "cpu-µs/msg-on")
	b.ReportMetric(cpu[false].Seconds()/cpu[true].Seconds(), "ratio-cpu")
}

// ingest submits batch to n from clients goroutines, each message waited
// for, and returns the wall and process CPU time it took.
func ingest(b *testing.B, n *Node, batch []*message.Message, clients int) (time.Duration, time.Duration) {
	var wg sync.WaitGroup
	next := make(chan *message.Message)
	var failed sync.Once
	// The garbage of what ran before (the setup, the other node's round)
	// is collected outside the measure, not charged to this round.
	runtime.GC()
	cpu0, start := processCPU(b), time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range next {
				if st, err := n.Submit(context.Background(), m, "bench", true); st != store.StatusProcessed {
					failed.Do(func() { b.Errorf("%s %v", st, err) })
				}
			}
		}()
	}
	for _, m := range batch {
		next <- m
	}
	close(next)
	wg.Wait()
	return time.Since(start), processCPU(b) - cpu0
}

// processCPU is the CPU time (user and system) this process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
