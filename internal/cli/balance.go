package cli

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/client"
)

// balanceReport is what `account balance --json` prints: the node's
// balance document and the messages that hold or spend from it (nil when
// the node lists no costs).
type balanceReport struct {
	*client.Balance
	Resources []client.CostResource `json:"resources"`
}

func newAccountBalanceCmd(g *globals) *cobra.Command {
	var chain string
	var lots bool
	cmd := &cobra.Command{
		Use:   "balance [address]",
		Short: "Print the token and credit balances of an address (default: the account's) and what its messages lock",
		Long: `Print what the node knows of an address's funds: the ALEPH balance (the sum over
chains, or --chain only, without dApp balances) and the balance on each chain;
the ALEPH its hold-paid messages lock; its credit balance (whole credits,
1,000,000 per USD); then each message that holds tokens or spends credits, with
its cost (hold: ALEPH held; credit: credits per second). --credits also lists
what remains of the credit lots by expiry. Amounts are exact: tokens with up to
18 decimals, credits as integers.`,
		Example: `  aleph account balance
  aleph account balance 0x27702a26126e0B3702af63Ee09aC4d1A084EF628 --chain ETH
  aleph account balance --credits
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
			c := g.client()
			ctx := cmd.Context()
			var b *client.Balance
			if lots {
				b, err = c.BalanceWithCredits(ctx, addr, chain)
			} else {
				b, err = c.Balance(ctx, addr, chain)
			}
			if err != nil {
				return err
			}
			res, err := lockedBy(cmd, c, addr)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(balanceReport{b, res})
			}
			fmt.Fprintf(g.out, "%s: %s ALEPH\n", b.Address, b.Balance)
			if b.LockedAmount != "" && b.LockedAmount != "0" && b.LockedAmount != "0.0" {
				fmt.Fprintf(g.out, "held by its messages: %s ALEPH\n", b.LockedAmount)
			}
			credits := b.CreditBalance
			if credits == "" {
				credits = "0"
			}
			fmt.Fprintf(g.out, "credits: %s\n", credits)
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
			if err := tw.Flush(); err != nil {
				return err
			}
			if lots && len(b.CreditBalanceDetails) > 0 {
				fmt.Fprintln(g.out)
				tw = g.table()
				fmt.Fprintln(tw, "CREDITS\tEXPIRES")
				for _, l := range b.CreditBalanceDetails {
					exp := "never"
					if l.ExpirationDate != nil {
						exp = *l.ExpirationDate
					}
					fmt.Fprintf(tw, "%s\t%s\n", l.Amount, exp)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if len(res) > 0 {
				fmt.Fprintln(g.out)
				tw = g.table()
				fmt.Fprintln(tw, "MESSAGE\tPAYMENT\tCOST\tCONSUMED CREDITS")
				for _, r := range res {
					cost := trimDecimals(r.CostHold) + " ALEPH"
					if r.PaymentType == "credit" {
						cost = trimDecimals(r.CostCredit) + " credits/s"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ItemHash, r.PaymentType, cost, r.ConsumedCredits)
				}
				return tw.Flush()
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&chain, "chain", "", "only this chain's balance (ETH, AVAX, BASE, SOL, …)")
	cmd.Flags().BoolVar(&lots, "credits", false, "also list the credit lots by expiry")
	return cmd
}

// lockedBy lists the address's hold-paid and credit-paid messages with
// their costs (GET /api/v0/costs). A node without that endpoint (404)
// gives none: the locked total is still printed.
func lockedBy(cmd *cobra.Command, c *client.Client, addr string) ([]client.CostResource, error) {
	var out []client.CostResource
	for _, pt := range []string{"hold", "credit"} {
		costs, err := c.Costs(cmd.Context(), client.CostsQuery{Address: addr, PaymentType: pt})
		var ae *client.Error
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, costs.Resources...)
	}
	return out, nil
}

// trimDecimals drops the trailing zeros of a decimal ("1.500" is "1.5",
// "0.000" is "0").
func trimDecimals(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-" {
		return "0"
	}
	return s
}
