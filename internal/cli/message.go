package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

func newMessageCmd(g *globals) *cobra.Command {
	return group("message", "Read, find, forget and watch messages",
		`  aleph message get 3a6b…e1
  aleph message find --message-types POST --channels TEST`,
		newMessageGetCmd(g), newMessageStatusCmd(g), newMessageFindCmd(g),
		newMessageForgetCmd(g), newMessageWatchCmd(g))
}

// forget publishes a FORGET of hashes, after checking them locally.
func (g *globals) forget(cmd *cobra.Command, hashes []string, reason string, sync bool) error {
	for _, h := range hashes {
		if err := checkHash(h); err != nil {
			return err
		}
	}
	return g.write(func(c *client.Client, s message.Signer) (*client.Result, error) {
		return c.Forget(cmd.Context(), s, client.ForgetParams{Hashes: hashes, Reason: reason,
			Channel: g.channel, Sync: sync})
	})
}

// notFound turns a 404 for hash into a one-line error.
func notFound(err error, hash string) error {
	if errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("message %s not found on the node", hash)
	}
	return err
}

func fmtTime(t float64) string {
	return client.TimeOf(t).UTC().Format(time.DateTime)
}

func newMessageGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get <hash>",
		Short: "Show a message and its status (with the error of a rejected one)",
		Example: `  aleph message get 3a6b…e1
  aleph --json message get 3a6b…e1 | jq .status`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkHash(args[0]); err != nil {
				return err
			}
			r, err := g.client().Message(cmd.Context(), args[0])
			if err != nil {
				return notFound(err, args[0])
			}
			if g.json {
				return g.printJSON(r.Raw)
			}
			tw := g.table()
			fmt.Fprintf(tw, "item_hash:\t%s\nstatus:\t%s\n", r.ItemHash, r.Status)
			if m := r.Message; m != nil {
				fmt.Fprintf(tw, "type:\t%s\nsender:\t%s\nchain:\t%s\nchannel:\t%s\ntime:\t%s\n",
					m.Type, m.Sender, m.Chain, m.Channel, fmtTime(m.Time))
				if len(m.Content) > 0 && string(m.Content) != "null" {
					fmt.Fprintf(tw, "content:\t%s\n", short(string(m.Content), 200))
				}
				if r.Status == client.StatusProcessed || r.Status == client.StatusRemoving {
					fmt.Fprintf(tw, "confirmed:\t%s\n", confirmationsText(m.Raw))
				}
			}
			if r.ErrorCode != nil {
				fmt.Fprintf(tw, "error:\t%d (%s)\n", int(*r.ErrorCode), r.ErrorCode.String())
			}
			if len(r.Details) > 0 && string(r.Details) != "null" {
				fmt.Fprintf(tw, "details:\t%s\n", short(string(r.Details), 200))
			}
			if len(r.ForgottenBy) > 0 {
				fmt.Fprintf(tw, "forgotten_by:\t%s\n", strings.Join(r.ForgottenBy, ", "))
			}
			if r.Reason != "" {
				fmt.Fprintf(tw, "reason:\t%s\n", r.Reason)
			}
			return tw.Flush()
		},
	}
}

func newMessageStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "status <hash>",
		Short:   "Print the processing status of a message",
		Example: `  aleph message status 3a6b…e1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkHash(args[0]); err != nil {
				return err
			}
			r, err := g.client().MessageStatus(cmd.Context(), args[0])
			if err != nil {
				return notFound(err, args[0])
			}
			if g.json {
				return g.printJSON(r)
			}
			fmt.Fprintln(g.out, r.Status)
			return nil
		},
	}
}

// filterFlags are the message filters shared by find and watch.
type filterFlags struct {
	types, contentTypes, contentKeys, refs, addresses, tags, hashes, channels, chains []string
}

func (ff *filterFlags) add(cmd *cobra.Command, all bool) {
	f := cmd.Flags()
	f.StringSliceVar(&ff.types, "message-types", nil, "message types: POST, AGGREGATE, STORE, FORGET, PROGRAM, INSTANCE")
	f.StringSliceVar(&ff.addresses, "addresses", nil, "sender addresses")
	f.StringSliceVar(&ff.channels, "channels", nil, "channels")
	f.StringSliceVar(&ff.refs, "refs", nil, "content refs")
	f.StringSliceVar(&ff.contentTypes, "content-types", nil, "content types (post types)")
	f.StringSliceVar(&ff.chains, "chains", nil, "chains of the senders")
	if all {
		f.StringSliceVar(&ff.contentKeys, "content-keys", nil, "content keys (aggregate keys)")
		f.StringSliceVar(&ff.tags, "tags", nil, "content tags")
		f.StringSliceVar(&ff.hashes, "hashes", nil, "item hashes")
	}
}

func (ff *filterFlags) filter() (client.MessageFilter, error) {
	f := client.MessageFilter{Addresses: splitList(ff.addresses), Channels: splitList(ff.channels),
		Refs: splitList(ff.refs), ContentTypes: splitList(ff.contentTypes), Chains: splitList(ff.chains),
		ContentKeys: splitList(ff.contentKeys), Tags: splitList(ff.tags), Hashes: splitList(ff.hashes)}
	for _, t := range splitList(ff.types) {
		mt := message.Type(strings.ToUpper(t))
		if !mt.Valid() {
			return f, fmt.Errorf("unknown message type %q", t)
		}
		f.Types = append(f.Types, mt)
	}
	for _, h := range f.Hashes {
		if err := checkHash(h); err != nil {
			return f, err
		}
	}
	return f, nil
}

func newMessageFindCmd(g *globals) *cobra.Command {
	var (
		ff               filterFlags
		page, pagination int
		asc              bool
	)
	cmd := &cobra.Command{
		Use:   "find",
		Short: "List the processed messages that match filters, newest first",
		Example: `  aleph message find --message-types POST --content-types note
  aleph --json message find --addresses 0xAbC… --pagination 10 --page 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := ff.filter()
			if err != nil {
				return err
			}
			f.Page, f.Pagination, f.Ascending = page, pagination, asc
			p, err := g.client().Messages(cmd.Context(), f)
			if err != nil {
				return err
			}
			if g.json {
				raws := make([]json.RawMessage, len(p.Messages))
				for i, m := range p.Messages {
					raws[i] = m.Raw
				}
				return g.printJSON(map[string]any{"messages": raws, "pagination_page": p.Page,
					"pagination_per_page": p.PerPage, "pagination_total": p.Total})
			}
			tw := g.table()
			fmt.Fprintln(tw, "HASH\tTYPE\tSENDER\tCHANNEL\tTIME")
			for _, m := range p.Messages {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ItemHash, m.Type, m.Sender, m.Channel, fmtTime(m.Time))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(g.out, "page %d, %d of %d messages\n", p.Page, len(p.Messages), p.Total)
			return nil
		},
	}
	ff.add(cmd, true)
	cmd.Flags().IntVar(&pagination, "pagination", 200, "messages per page")
	cmd.Flags().IntVar(&page, "page", 1, "page number")
	cmd.Flags().BoolVar(&asc, "ascending", false, "oldest first")
	return cmd
}

func newMessageForgetCmd(g *globals) *cobra.Command {
	return newForgetCmd(g, "forget <hash>[,<hash>...]", "Publish a FORGET of messages of the account",
		`  aleph message forget 3a6b…e1
  aleph message forget 3a6b…e1,9c0d…42 --reason "posted by mistake"`)
}

// newForgetCmd returns a command that publishes a FORGET of the message
// hashes in its arguments (each may be a comma-separated list).
func newForgetCmd(g *globals, use, short, example string) *cobra.Command {
	var (
		reason string
		sync   bool
	)
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.forget(cmd, splitList(args), reason, sync)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the messages are forgotten")
	cmd.Flags().BoolVar(&sync, "sync", true, "wait for the node to process the FORGET")
	return cmd
}

func newMessageWatchCmd(g *globals) *cobra.Command {
	var (
		ff      filterFlags
		history int
	)
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print messages as the node processes them, until Ctrl-C",
		Long: `Follow the node's WebSocket feed: first up to --history past messages that
match, oldest first, then each new one, one line each (one JSON object per line
with --json). Ctrl-C stops.`,
		Example: `  aleph message watch --channels TEST
  aleph --json message watch --addresses 0xAbC… --history 0 | jq .item_hash`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := ff.filter()
			if err != nil {
				return err
			}
			seq, err := g.client().Watch(cmd.Context(), f, history)
			if err != nil {
				return err
			}
			for m, err := range seq {
				if err != nil {
					return err
				}
				if g.json {
					b, err := json.Marshal(m.Raw)
					if err != nil {
						return err
					}
					fmt.Fprintf(g.out, "%s\n", b)
					continue
				}
				fmt.Fprintf(g.out, "%s  %-9s %s  %s  %s\n", fmtTime(m.Time), m.Type, m.ItemHash, m.Sender, m.Channel)
			}
			return nil
		},
	}
	ff.add(cmd, false)
	cmd.Flags().IntVar(&history, "history", 10, "past messages to print first")
	return cmd
}

// confirmationsText describes the confirmations of a message as the node
// wrote it: "no", or each chain's transaction and height.
func confirmationsText(raw json.RawMessage) string {
	var m struct {
		Confirmations []struct {
			Chain  string `json:"chain"`
			Hash   string `json:"hash"`
			Height uint64 `json:"height"`
		} `json:"confirmations"`
	}
	if json.Unmarshal(raw, &m) != nil || len(m.Confirmations) == 0 {
		return "no"
	}
	var out []string
	for _, c := range m.Confirmations {
		out = append(out, fmt.Sprintf("%s transaction %s at height %d", c.Chain, c.Hash, c.Height))
	}
	return "yes, " + strings.Join(out, "; ")
}
