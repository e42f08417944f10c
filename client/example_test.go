package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/message"
)

// exampleNode starts an in-process node on 127.0.0.1 for the examples.
func exampleNode() (string, func()) {
	u, stop, err := runNode(node.Config{})
	if err != nil {
		log.Fatal(err)
	}
	return u, func() { stop() }
}

// exampleAccount is a fixed test-only key, so the examples' output is stable.
func exampleAccount() *eth.Account {
	a, err := eth.AccountFromHex("0x9587c905513dd9bb98b586c5ea03df082d86e67045186da6c5fee23fd5fccb85")
	if err != nil {
		log.Fatal(err)
	}
	return a
}

func Example() {
	url, stop := exampleNode()
	defer stop()
	ctx := context.Background()

	c := client.New(url)
	account := exampleAccount()
	res, err := c.Post(ctx, account, client.PostParams{
		Type:    "note",
		Content: map[string]string{"body": "hello"},
		Channel: "EXAMPLE",
		Sync:    true, // wait until the node has processed it
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Status, res.Message.Sender)

	got, err := c.Message(ctx, res.Message.ItemHash)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Status, string(got.Message.Content)[:30])
	// Output:
	// processed 0x353fb1565aA96ce71243478aC6cB7f283fE105C8
	// processed {"type":"note","address":"0x35
}

func ExampleClient_Amend() {
	url, stop := exampleNode()
	defer stop()
	ctx := context.Background()
	c, account := client.New(url), exampleAccount()

	orig, err := c.Post(ctx, account, client.PostParams{Type: "note", Content: "first draft", Sync: true})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Amend(ctx, account, orig.Message.ItemHash, "final text", client.WriteOptions{Sync: true}); err != nil {
		log.Fatal(err)
	}
	posts, err := c.Posts(ctx, client.PostFilter{Hashes: []string{orig.Message.ItemHash}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(posts.Total, string(posts.Posts[0].Content))
	// Output: 1 "final text"
}

func ExampleClient_UpdateAggregate() {
	url, stop := exampleNode()
	defer stop()
	ctx := context.Background()
	c, account := client.New(url), exampleAccount()

	for _, v := range []map[string]any{{"name": "alice", "lang": "go"}, {"lang": "rust"}} {
		if _, err := c.UpdateAggregate(ctx, account, "profile", v, client.WriteOptions{Sync: true}); err != nil {
			log.Fatal(err)
		}
	}
	profile, err := c.Aggregate(ctx, account.Address(), "profile")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(profile))
	// Output: {"lang":"rust","name":"alice"}
}

func ExampleClient_Store() {
	url, stop := exampleNode()
	defer stop()
	ctx := context.Background()
	c, account := client.New(url), exampleAccount()

	res, err := c.Store(ctx, account, strings.NewReader("hello, aleph"), client.StoreParams{Sync: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Status, res.FileHash)

	var buf bytes.Buffer
	if _, err := c.Download(ctx, res.FileHash, &buf); err != nil {
		log.Fatal(err)
	}
	fmt.Println(buf.String())
	// Output:
	// processed a09c4d493963afb6037bd454a05023b28404601974d9a6270d37399a675d36c4
	// hello, aleph
}

func ExampleClient_Messages() {
	url, stop := exampleNode()
	defer stop()
	ctx := context.Background()
	c, account := client.New(url), exampleAccount()

	for i := range 3 {
		if _, err := c.Post(ctx, account, client.PostParams{Type: "note", Content: i, Channel: "LIST", Sync: true}); err != nil {
			log.Fatal(err)
		}
	}
	page, err := c.Messages(ctx, client.MessageFilter{
		Channels:   []string{"LIST"},
		Types:      []message.Type{message.TypePost},
		Pagination: 2,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(page.Total, len(page.Messages))
	// Output: 3 2
}

func ExampleClient_Watch() {
	url, stop := exampleNode()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, account := client.New(url), exampleAccount()

	feed, err := c.Watch(ctx, client.MessageFilter{Channels: []string{"LIVE"}}, 0)
	if err != nil {
		log.Fatal(err)
	}
	go c.Post(ctx, account, client.PostParams{Type: "note", Content: "live!", Channel: "LIVE"})
	for m, err := range feed {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.Type, m.Channel)
		break
	}
	// Output: POST LIVE
}

func ExampleErrNotFound() {
	url, stop := exampleNode()
	defer stop()
	c := client.New(url)

	_, err := c.Message(context.Background(), strings.Repeat("0", 64))
	fmt.Println(errors.Is(err, client.ErrNotFound))
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status)
	}
	// Output:
	// true
	// 404
}
