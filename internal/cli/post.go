package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

// printResult prints the outcome of a write: the message hash and status.
func (g *globals) printResult(res *client.Result) error {
	if g.json {
		out := map[string]any{"item_hash": res.Message.ItemHash, "status": res.Status,
			"type": res.Message.Type, "sender": res.Message.Sender, "chain": res.Message.Chain,
			"channel": res.Message.Channel, "message": res.Message}
		if res.FileHash != "" {
			out["file_hash"] = res.FileHash
		}
		return g.printJSON(out)
	}
	tw := g.table()
	status := string(res.Status)
	if res.Status == client.StatusPending {
		status += " (the node has not processed it yet: see aleph message status)"
	}
	fmt.Fprintf(tw, "item_hash:\t%s\nstatus:\t%s\n", res.Message.ItemHash, status)
	if res.FileHash != "" {
		fmt.Fprintf(tw, "file_hash:\t%s\n", res.FileHash)
	}
	return tw.Flush()
}

// write signs with the account and runs publish, a client call that
// publishes a message, then prints its result.
func (g *globals) write(publish func(c *client.Client, s message.Signer) (*client.Result, error)) error {
	s, err := g.signer()
	if err != nil {
		return err
	}
	res, err := publish(g.client(), s)
	if err != nil {
		return err
	}
	return g.printResult(res)
}

// readContent returns the JSON content given by --content, --path or stdin.
func readContent(content, path string, stdin io.Reader) (json.RawMessage, error) {
	var b []byte
	var err error
	switch {
	case content != "" && path != "":
		return nil, errors.New("give --content or --path, not both")
	case content != "":
		b = []byte(content)
	case path != "":
		if b, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	default:
		if f, ok := stdin.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				return nil, errors.New("give the content with --content, --path or on stdin")
			}
		}
		if b, err = io.ReadAll(stdin); err != nil {
			return nil, err
		}
	}
	if !json.Valid(b) {
		return nil, errors.New("content is not valid JSON")
	}
	return json.RawMessage(b), nil
}

func newPostCmd(g *globals) *cobra.Command {
	return group("post", "Publish, amend and read posts",
		`  aleph post create --type note --content '{"body":"hello"}'
  aleph post get --types note`,
		newPostCreateCmd(g), newPostAmendCmd(g), newPostGetCmd(g))
}

func newPostCreateCmd(g *globals) *cobra.Command {
	var (
		typ, ref, content, path string
		sync                    bool
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Publish a POST message with JSON content from --content, --path or stdin",
		Example: `  aleph post create --type note --content '{"body":"hello"}'
  aleph post create --type blog --ref my-page --path post.json
  echo '{"n":1}' | aleph post create --type test`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := readContent(content, path, cmd.InOrStdin())
			if err != nil {
				return err
			}
			return g.write(func(c *client.Client, s message.Signer) (*client.Result, error) {
				return c.Post(cmd.Context(), s, client.PostParams{Type: typ, Content: v,
					Ref: ref, Channel: g.channel, Sync: sync})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", "test", "post type")
	f.StringVar(&ref, "ref", "", "reference (any string, or a message hash)")
	f.StringVar(&content, "content", "", "the content, as JSON")
	f.StringVar(&path, "path", "", "file holding the content, as JSON")
	f.BoolVar(&sync, "sync", true, "wait for the node to process the message")
	return cmd
}

func newPostAmendCmd(g *globals) *cobra.Command {
	var (
		content, path string
		sync          bool
	)
	cmd := &cobra.Command{
		Use:   "amend <hash>",
		Short: "Replace the content of a post with an amend",
		Example: `  aleph post amend 3a6b…e1 --content '{"body":"hello, fixed"}'
  aleph post amend 3a6b…e1 --path new.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkHash(args[0]); err != nil {
				return err
			}
			v, err := readContent(content, path, cmd.InOrStdin())
			if err != nil {
				return err
			}
			return g.write(func(c *client.Client, s message.Signer) (*client.Result, error) {
				return c.Amend(cmd.Context(), s, args[0], v,
					client.WriteOptions{Channel: g.channel, Sync: sync})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&content, "content", "", "the new content, as JSON")
	f.StringVar(&path, "path", "", "file holding the new content, as JSON")
	f.BoolVar(&sync, "sync", true, "wait for the node to process the message")
	return cmd
}

func newPostGetCmd(g *globals) *cobra.Command {
	var (
		f                                        client.PostFilter
		types, refs, addresses, hashes, channels []string
	)
	cmd := &cobra.Command{
		Use:   "get",
		Short: "List posts (with the content of their latest amend)",
		Example: `  aleph post get --types note --addresses 0xAbC…
  aleph --json post get --hashes 3a6b…e1 | jq '.posts[0].content'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.Types, f.Refs, f.Addresses = splitList(types), splitList(refs), splitList(addresses)
			f.Hashes, f.Channels = splitList(hashes), splitList(channels)
			for _, h := range f.Hashes {
				if err := checkHash(h); err != nil {
					return err
				}
			}
			page, err := g.client().Posts(cmd.Context(), f)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(page)
			}
			tw := g.table()
			fmt.Fprintln(tw, "HASH\tTYPE\tADDRESS\tTIME\tCONTENT")
			for _, p := range page.Posts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Hash, p.OriginalType, p.Address,
					client.TimeOf(p.Time).UTC().Format(time.DateTime), short(string(p.Content), 60))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(g.out, "page %d, %d of %d posts\n", page.Page, len(page.Posts), page.Total)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&types, "types", nil, "post types (comma-separated)")
	fl.StringSliceVar(&refs, "refs", nil, "references (comma-separated)")
	fl.StringSliceVar(&addresses, "addresses", nil, "sender addresses (comma-separated)")
	fl.StringSliceVar(&hashes, "hashes", nil, "original post hashes (comma-separated)")
	fl.StringSliceVar(&channels, "channels", nil, "channels (comma-separated)")
	fl.IntVar(&f.Pagination, "pagination", 50, "posts per page")
	fl.IntVar(&f.Page, "page", 1, "page number")
	return cmd
}

// short cuts s to n runes with an ellipsis.
func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
