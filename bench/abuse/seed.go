package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/message"
)

// seedPosts stores count validly signed POST messages (from 10 accounts,
// each with a tag) through the node's API, then waits (at most 3 min)
// until posts.json counts them, so that the rows that read messages have
// something to read.
func seedPosts(ctx context.Context, n *node, count int) error {
	if count <= 0 {
		return nil
	}
	accts := make([]*eth.Account, 10)
	for i := range accts {
		a, err := eth.NewAccount()
		if err != nil {
			return err
		}
		accts[i] = a
	}
	t0 := float64(time.Now().UnixMicro()) / 1e6
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				a := accts[i%len(accts)]
				ct := t0 + float64(i)*1e-6
				item, _ := json.Marshal(map[string]any{
					"type":    "abuse-seed",
					"address": a.Address(),
					"content": map[string]any{"body": "seed post", "index": i, "tags": []string{"seed" + strconv.Itoa(i%10)}},
					"time":    ct,
				})
				m := &message.Message{
					Type:        message.TypePost,
					ItemType:    message.ItemInline,
					ItemContent: string(item),
					ItemHash:    message.InlineHash(string(item)),
					Time:        ct + 0.000123,
					Channel:     "TEST",
				}
				if err := message.Sign(a, m); err != nil {
					failed.Add(1)
					continue
				}
				env, err := m.MarshalJSON()
				if err != nil {
					failed.Add(1)
					continue
				}
				body := append(append([]byte(`{"sync":false,"message":`), env...), '}')
				code, _, err := postMessage(ctx, n, body)
				if err != nil || code != http.StatusAccepted && code != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("seeding: %d of %d posts not accepted", f, count)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		code, body, _, err := do(ctx, "GET", n.url+"/api/v0/posts.json?pagination=1", "", nil)
		var p struct {
			Total int `json:"pagination_total"`
		}
		if err == nil && code == 200 && json.Unmarshal(body, &p) == nil && p.Total >= count {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("seeding: posts.json counts %d of %d posts after 3 min", p.Total, count)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
