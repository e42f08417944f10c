package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

func newAggregateCmd(g *globals) *cobra.Command {
	return group("aggregate", "Write and read aggregates (per-address key-value documents)",
		`  aleph aggregate create profile '{"name":"alice"}'
  aleph aggregate get profile`,
		newAggregateCreateCmd(g), newAggregateGetCmd(g), newAggregateListCmd(g), newAggregateForgetCmd(g))
}

// addressOr returns addr, or the address of the account that signs.
func (g *globals) addressOr(addr string) (string, error) {
	if addr != "" {
		return addr, nil
	}
	c, err := loadConfig()
	if err != nil {
		return "", err
	}
	_, e, err := c.entry(g.account)
	if err != nil {
		return "", err
	}
	return e.Address, nil
}

func newAggregateCreateCmd(g *globals) *cobra.Command {
	var sync bool
	cmd := &cobra.Command{
		Use:     "create <key> <json>",
		Aliases: []string{"post"},
		Short:   "Merge a JSON object into the aggregate key of the account",
		Example: `  aleph aggregate create profile '{"name":"alice","age":30}'
  aleph aggregate post settings '{"theme":"dark"}'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v map[string]json.RawMessage
			if err := json.Unmarshal([]byte(args[1]), &v); err != nil || v == nil {
				return errors.New("aggregate content must be a JSON object")
			}
			return g.write(func(c *client.Client, s message.Signer) (*client.Result, error) {
				return c.UpdateAggregate(cmd.Context(), s, args[0], v,
					client.WriteOptions{Channel: g.channel, Sync: sync})
			})
		},
	}
	cmd.Flags().BoolVar(&sync, "sync", true, "wait for the node to process the message")
	return cmd
}

func newAggregateGetCmd(g *globals) *cobra.Command {
	var address string
	cmd := &cobra.Command{
		Use:   "get <key>",
		Short: "Print the merged value of an aggregate key",
		Example: `  aleph aggregate get profile
  aleph aggregate get profile --address 0xAbC…`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := g.addressOr(address)
			if err != nil {
				return err
			}
			v, err := g.client().Aggregate(cmd.Context(), addr, args[0])
			if errors.Is(err, client.ErrNotFound) {
				return fmt.Errorf("no aggregate %q for %s", args[0], addr)
			}
			if err != nil {
				return err
			}
			return g.printJSON(v)
		},
	}
	cmd.Flags().StringVar(&address, "address", "", "owner of the aggregate (default: the account's address)")
	return cmd
}

func newAggregateListCmd(g *globals) *cobra.Command {
	var address string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the aggregate keys of an address",
		Example: `  aleph aggregate list
  aleph --json aggregate list --address 0xAbC…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := g.addressOr(address)
			if err != nil {
				return err
			}
			m, err := g.client().Aggregates(cmd.Context(), addr)
			if errors.Is(err, client.ErrNotFound) {
				m, err = map[string]json.RawMessage{}, nil
			}
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(m)
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			tw := g.table()
			fmt.Fprintln(tw, "KEY\tVALUE")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\n", k, short(string(m[k]), 70))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&address, "address", "", "owner of the aggregates (default: the account's address)")
	return cmd
}

func newAggregateForgetCmd(g *globals) *cobra.Command {
	var (
		subkeys []string
		sync    bool
	)
	cmd := &cobra.Command{
		Use:   "forget <key>",
		Short: "Clear an aggregate key by writing null to its subkeys (as aleph-client)",
		Long: `Clear an aggregate key: like aleph-client, this publishes an AGGREGATE that
sets each subkey (all current ones, or --subkeys) to null. It is not a FORGET.`,
		Example: `  aleph aggregate forget profile
  aleph aggregate forget profile --subkeys age,email`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.signer()
			if err != nil {
				return err
			}
			c := g.client()
			keys := splitList(subkeys)
			if len(keys) == 0 {
				raw, err := c.Aggregate(cmd.Context(), s.Address(), args[0])
				if errors.Is(err, client.ErrNotFound) {
					return fmt.Errorf("no aggregate %q for %s", args[0], s.Address())
				}
				if err != nil {
					return err
				}
				var cur map[string]json.RawMessage
				if err := json.Unmarshal(raw, &cur); err != nil {
					return fmt.Errorf("aggregate %q is not an object", args[0])
				}
				for k := range cur {
					keys = append(keys, k)
				}
				sort.Strings(keys)
			}
			v := map[string]any{}
			for _, k := range keys {
				v[k] = nil
			}
			res, err := c.UpdateAggregate(cmd.Context(), s, args[0], v,
				client.WriteOptions{Channel: g.channel, Sync: sync})
			if err != nil {
				return err
			}
			return g.printResult(res)
		},
	}
	cmd.Flags().StringSliceVar(&subkeys, "subkeys", nil, "subkeys to clear (default: all)")
	cmd.Flags().BoolVar(&sync, "sync", true, "wait for the node to process the message")
	return cmd
}
