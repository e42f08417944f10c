package packer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/chain/devchain"
	"github.com/goaleph/goaleph/internal/chain/packer"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/message"
)

// waitTimeout bounds every wait: generous for -race on loaded machines.
const waitTimeout = 120 * time.Second

// commitDelay is the packers' commit delay in these tests.
const commitDelay = 3 * time.Second

// packerAccount is the dev chain account whose key the packer uses.
const packerAccount = 1

// bench is a dev chain sealing blocks on a timer, with the sync contract,
// and the data directory of a core node that packs on it.
type bench struct {
	t        *testing.T
	ctx      context.Context
	chain    *devchain.Chain
	contract common.Address
	dataDir  string
	// packer, when set, changes the packer's configuration in start.
	packer func(*packer.Config)
}

func newBench(t *testing.T) *bench {
	t.Helper()
	b := &bench{t: t, dataDir: t.TempDir()}
	var cancel context.CancelFunc
	b.ctx, cancel = context.WithTimeout(context.Background(), 4*waitTimeout)
	t.Cleanup(cancel)
	var err error
	b.chain, err = devchain.New(devchain.Config{BlockInterval: 100 * time.Millisecond})
	check(t, err)
	t.Cleanup(func() { b.chain.Close() })
	b.contract, err = b.chain.DeploySync(b.ctx)
	check(t, err)
	return b
}

// check fails the test on err.
func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// running is a started core node role.
type running struct {
	role   *node.Role
	chain  *devchain.Chain
	api    *client.Client
	cancel context.CancelFunc
	done   chan error
}

// start runs the node with its packer; crash is the packer's crash hook.
func (b *bench) start(crash func(packer.CrashPoint) error) *running {
	b.t.Helper()
	// The emitters leave the packer out: the role adds its account.
	rc := node.RoleConfig{
		Node:  node.Config{DataDir: b.dataDir},
		NoP2P: true,
		Chain: b.chainConfig(nil),
		Packer: packer.Config{Key: b.chain.Accounts()[packerAccount].KeyHex(), CommitDelay: commitDelay,
			FollowInterval: 50 * time.Millisecond, RetryBase: 50 * time.Millisecond, MaxBackoff: time.Second, Crash: crash},
	}
	if b.packer != nil {
		b.packer(&rc.Packer)
	}
	return b.startRole(b.t, rc)
}

// stop stops the role (once) and reports an error it returned.
func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		panic(fmt.Sprintf("role: %v", err))
	}
}

// signed returns n signed inline POSTs of one new account.
func signed(t *testing.T, n int) []*message.Message {
	t.Helper()
	a := ethtest.Account(t)
	var out []*message.Message
	for i := range n {
		now := time.Now()
		c := fmt.Sprintf(`{"type":"test","address":%q,"time":%d.25,"content":{"n":%d,"html":"<b>&</b>"}}`, a.Address(), now.Unix(), i)
		m, err := message.NewInline(a, message.TypePost, "TEST", c, now)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// post submits msgs in order, each processed before the next is sent, and
// returns how many the node took before stop was closed (it stops at the
// first failure once stop is closed: the node is going away).
func (r *running) post(t *testing.T, msgs []*message.Message, stop <-chan struct{}) int {
	t.Helper()
	for i, m := range msgs {
		st, err := r.api.Submit(context.Background(), m, true)
		if err == nil && st == client.StatusProcessed {
			continue
		}
		select {
		case <-stop:
			return i
		default:
		}
		t.Fatalf("post %d: %v, %v", i, st, err)
	}
	return len(msgs)
}

// processed returns the messages of msgs the node holds as processed, in order.
func (r *running) processed(t *testing.T, msgs []*message.Message) []*message.Message {
	t.Helper()
	var out []*message.Message
	for _, m := range msgs {
		st, err := r.api.MessageStatus(context.Background(), m.ItemHash)
		if err == nil && st.Status == client.StatusProcessed {
			out = append(out, m)
		}
	}
	return out
}
