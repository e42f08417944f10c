package node

import (
	"context"
	"fmt"
	"math/big"
	"sync"
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
}

// BenchmarkIngestQuota processes the same kind of PROGRAM messages from
// funded owners on a node with quotas on and one with quotas off, in the
// same run, and reports both rates and their ratio (on / off).
func BenchmarkIngestQuota(b *testing.B) {
	const msgs, clients = 2000, 32
	os := owners(b, msgs)
	rate := map[bool]float64{}
	for _, quota := range []bool{false, true} {
		n, mk := benchEconomy(b, quota, os)
		batch := make([]*message.Message, msgs)
		for i, o := range os {
			batch[i] = mk(o, 1780000100+float64(i))
		}
		var wg sync.WaitGroup
		next := make(chan *message.Message)
		var failed sync.Once
		start := time.Now()
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for m := range next {
					if st, err := n.Submit(context.Background(), m, "bench", true); st != store.StatusProcessed {
						failed.Do(func() { b.Errorf("quota %v: %s %v", quota, st, err) })
					}
				}
			}()
		}
		for _, m := range batch {
			next <- m
		}
		close(next)
		wg.Wait()
		rate[quota] = msgs / time.Since(start).Seconds()
	}
	b.ReportMetric(rate[false], "msg/s-off")
	b.ReportMetric(rate[true], "msg/s-on")
	b.ReportMetric(rate[true]/rate[false], "ratio")
}
