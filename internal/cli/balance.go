package cli

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"
)

func newAccountBalanceCmd(g *globals) *cobra.Command {
	var chain string
	cmd := &cobra.Command{
		Use:   "balance [address]",
		Short: "Print the token balance of an address (default: the account's) as the node knows it",
		Long: `Print the ALEPH balance the node holds for an address: the sum over chains (or
--chain only) without dApp balances, then the balance on each chain. Amounts are
exact, in whole tokens with up to 18 decimals.`,
		Example: `  aleph account balance
  aleph account balance 0x27702a26126e0B3702af63Ee09aC4d1A084EF628 --chain ETH
  aleph account balance --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var arg string
			if len(args) == 1 {
				arg = args[0]
			}
			addr, err := g.addressOr(arg)
			if err != nil {
				return err
			}
			b, err := g.client().Balance(cmd.Context(), addr, chain)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(b)
			}
			fmt.Fprintf(g.out, "%s: %s ALEPH\n", b.Address, b.Balance)
			if b.LockedAmount != "" && b.LockedAmount != "0" && b.LockedAmount != "0.0" {
				fmt.Fprintf(g.out, "held by its messages: %s ALEPH\n", b.LockedAmount)
			}
			tw := g.table()
			chains := make([]string, 0, len(b.Details))
			for c := range b.Details {
				chains = append(chains, c)
			}
			slices.Sort(chains)
			if len(chains) > 0 {
				fmt.Fprintln(tw, "CHAIN\tBALANCE")
			}
			for _, c := range chains {
				fmt.Fprintf(tw, "%s\t%s\n", c, b.Details[c])
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&chain, "chain", "", "only this chain's balance (ETH, AVAX, BASE, SOL, …)")
	return cmd
}
