package replaytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// AddFiles adds the workload's files to n's file store, each with a grace
// pin as an upload through the API gets.
func AddFiles(ctx context.Context, n *node.Node, fs []File) error {
	for _, f := range fs {
		info, err := n.Files().Add(ctx, f.Engine, bytes.NewReader(f.Data), storeOptions)
		if err != nil {
			return err
		}
		if info.Hash != f.Hash {
			return fmt.Errorf("file stored as %s, want %s", info.Hash, f.Hash)
		}
		if err := n.PinUpload(ctx, info); err != nil {
			return err
		}
	}
	return nil
}

// Submit posts msgs to the node's HTTP API over workers connections, each
// message processed before its answer (sync), and fails unless every one
// is processed.
func Submit(ctx context.Context, c *client.Client, msgs []*message.Message, workers int) error {
	jobs := make(chan *message.Message)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range jobs {
				st, err := c.Submit(ctx, m, true)
				if st != client.StatusProcessed {
					errc <- fmt.Errorf("%s %s: status %q: %v", m.Type, m.ItemHash, st, err)
					return
				}
			}
		}()
	}
	var err error
feed:
	for _, m := range msgs {
		select {
		case jobs <- m:
		case err = <-errc:
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return err
}

// Poll calls cond every interval until it reports true or an error, or ctx
// ends.
func Poll(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// WaitPacked waits until every processed message of st is in a packer
// batch (its archive written): the next phase may forget them.
func WaitPacked(ctx context.Context, st store.Store) error {
	return Poll(ctx, 50*time.Millisecond, func() (bool, error) {
		rs, err := st.Unanchored(ctx, 1)
		return len(rs) == 0, err
	})
}

// WaitConfirmed waits until st holds no open packer batch and a chain
// confirmation of every processed message (its own reader read them all).
func WaitConfirmed(ctx context.Context, st store.Store, chain string) error {
	live, err := st.ListMessages(ctx, store.MessageFilter{})
	if err != nil {
		return err
	}
	processed := make([]string, 0, len(live.Records))
	for _, r := range live.Records {
		processed = append(processed, r.ItemHash)
	}
	return Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		if open, err := st.OpenBatches(ctx, chain); err != nil || len(open) > 0 {
			return false, err
		}
		for i := 0; i < len(processed); i += 1000 {
			part := processed[i:min(i+1000, len(processed))]
			confs, err := st.Confirmations(ctx, part)
			if err != nil {
				return false, err
			}
			if len(confs) < len(part) {
				return false, nil
			}
		}
		return true, nil
	})
}

// WaitCount waits until st holds want processed and forgotten messages and
// none pending.
func WaitCount(ctx context.Context, st store.Store, want int64) error {
	return Poll(ctx, 50*time.Millisecond, func() (bool, error) {
		c, err := st.Counts(ctx)
		if err != nil {
			return false, err
		}
		if c.Messages+c.Forgotten > want {
			return false, fmt.Errorf("%d processed and %d forgotten, more than %d", c.Messages, c.Forgotten, want)
		}
		return c.Messages+c.Forgotten == want && c.Pending == 0, nil
	})
}

// ErrDiffer is wrapped by Compare when two states differ.
var ErrDiffer = errors.New("the states differ")
