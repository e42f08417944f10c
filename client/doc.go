// Package client is the Go SDK of Aleph.im: a client of a core node's HTTP
// API (the one of the reference node, pyaleph, and of goaleph).
//
// A Client is made with New and the node's base URL. Every call takes a
// context first. Reads need no account:
//
//	c := client.New("http://127.0.0.1:4024")
//	page, err := c.Messages(ctx, client.MessageFilter{Channels: []string{"TEST"}})
//	res, err := c.Message(ctx, hash)     // status-dependent shape
//	posts, err := c.Posts(ctx, client.PostFilter{Types: []string{"note"}})
//	v, err := c.Aggregate(ctx, address, "profile")
//	n, err := c.Download(ctx, fileHash, w)
//
// Writes take the account that signs them, any message.Signer (the
// accounts of chain/eth, sol, nuls2, avax, tezos, dot and csdk). They build the content with the
// key order of the official TypeScript SDK, sign it, and submit it as
// {"sync": …, "message": …} to POST /api/v0/messages; content of
// MaxInlineContent bytes or more is first stored with add_json. Each write
// returns the signed message and the node's status (processed with Sync,
// pending without, or rejected):
//
//	res, err := c.Post(ctx, account, client.PostParams{Type: "note", Content: v, Sync: true})
//	res, err = c.Amend(ctx, account, res.Message.ItemHash, v2, client.WriteOptions{Sync: true})
//	res, err = c.UpdateAggregate(ctx, account, "profile", map[string]any{"name": "alice"}, client.WriteOptions{})
//	res, err = c.Forget(ctx, account, client.ForgetParams{Hashes: []string{h}, Reason: "typo"})
//	res, err = c.StoreFile(ctx, account, "photo.jpg", client.StoreParams{})
//
// Files are streamed, never held in memory: Store reads its io.ReadSeeker
// twice (the sha256 that the signed STORE message names, then the upload)
// and Download copies the node's answer to an io.Writer. Both accept a
// progress callback.
//
// Watch follows the node's WebSocket feed of processed messages.
//
// CreateInstance publishes an INSTANCE message (a VM reached by SSH), and
// CRN is a client of a compute node: NotifyInstance starts an instance,
// Executions lists what the node runs with the SSH port it forwards, and
// Operate (stop, reboot, erase) and Logs are the owner's operations,
// signed with OwnerHeaders as the reference compute node expects:
//
//	res, err := c.CreateInstance(ctx, account, client.InstanceParams{RootFS: image, RootFSSizeMiB: 2048,
//		AuthorizedKeys: []string{pubKey}, Sync: true})
//	n := client.NewCRN("http://127.0.0.1:4020")
//	err = n.NotifyInstance(ctx, res.Message.ItemHash)
//	list, err := n.Executions(ctx) // list[hash].SSHPort()
//	_, err = n.Operate(ctx, account, client.OpErase, res.Message.ItemHash)
//
// Errors answered by the node are *Error values carrying the HTTP status,
// the Aleph error code (message.Code) when there is one, and the node's
// message; errors.Is(err, ErrNotFound) tells a 404. Transport failures are
// wrapped errors that name the URL.
package client
