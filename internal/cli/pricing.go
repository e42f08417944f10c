package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/balances"
	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/message"
)

func newPricingCmd(g *globals) *cobra.Command {
	var address string
	cmd := &cobra.Command{
		Use:   "pricing [product…]",
		Short: "Print the price table the node applies (the pricing aggregate over the reference's defaults)",
		Long: `Print the prices of every product (or those named): what one compute unit
gives and costs held (ALEPH), streamed (ALEPH per hour) and in credits (per
hour), and the storage price per MiB beyond the disk a compute unit includes.
The table is the node's pricing aggregate merged over the reference's
defaults; prices are exact.`,
		Example: `  aleph pricing
  aleph pricing instance storage
  aleph --json pricing | jq .instance`,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if _, ok := economy.Default[a]; !ok {
					return fmt.Errorf("unknown product %q (one of %s)", a, strings.Join(economy.Products, ", "))
				}
			}
			m, err := nodePricing(cmd.Context(), g.client(), address)
			if err != nil {
				return err
			}
			names := args
			if len(names) == 0 {
				names = economy.Products
			}
			if g.json {
				out := map[string]any{}
				for _, n := range names {
					out[n] = productJSON(m[n])
				}
				return g.printJSON(out)
			}
			tw := g.table()
			fmt.Fprintln(tw, "PRODUCT\tCOMPUTE UNIT\tHOLD/CU\tPAYG/CU·h\tCREDITS/CU·h\tHOLD/MiB\tPAYG/MiB·h\tCREDITS/MiB·h")
			for _, n := range names {
				p := m[n]
				unit := "-"
				if cu := p.ComputeUnit; cu != nil {
					unit = fmt.Sprintf("%d vCPU, %d MiB, %d MiB disk", cu.VCPUs, cu.MemoryMiB, cu.DiskMiB)
				}
				hold := amountOr(p.CU.Hold)
				if p.Fixed != nil {
					hold = "fixed " + balances.FormatAmount(p.Fixed)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n, unit, hold, amountOr(p.CU.Stream), amountOr(p.CU.Credit),
					amountOr(p.Storage.Hold), amountOr(p.Storage.Stream), amountOr(p.Storage.Credit))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&address, "pricing-address", economy.PricingAddress, "owner of the pricing aggregate")
	return cmd
}

func amountOr(v *big.Int) string {
	if v == nil {
		return "-"
	}
	return strings.TrimSuffix(balances.FormatAmount(v), ".0")
}

func productJSON(p *economy.Product) map[string]any {
	rates := func(r economy.Rates) map[string]string {
		out := map[string]string{}
		for k, v := range map[string]*big.Int{"holding": r.Hold, "payg": r.Stream, "credit": r.Credit} {
			if v != nil {
				out[k] = balances.FormatAmount(v)
			}
		}
		return out
	}
	out := map[string]any{"price": map[string]any{"compute_unit": rates(p.CU), "storage": rates(p.Storage)}, "tiers": p.Tiers}
	if p.ComputeUnit != nil {
		out["compute_unit"] = p.ComputeUnit
	}
	if p.Fixed != nil {
		out["price"].(map[string]any)["fixed"] = balances.FormatAmount(p.Fixed)
	}
	return out
}

// nodePricing returns the price table of the node's pricing aggregate
// (the defaults when it has none).
func nodePricing(ctx context.Context, c *client.Client, address string) (economy.Model, error) {
	raw, err := c.Aggregate(ctx, address, economy.PricingKey)
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
		raw, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return economy.BuildModel(raw)
}

// checkCost prints what a message would cost on stderr, when it is a
// terminal or the node enforces quotas (so that scripts reading stderr of a
// node without quotas see nothing new), and refuses it early when the node
// enforces quotas and the account cannot pay: its balance less what its
// earlier messages hold, or one day of credit costs.
func checkCost(ctx context.Context, g *globals, c *client.Client, typ message.Type, owner string, content []byte, stderr func(string)) error {
	p, err := c.EstimatePrice(ctx, typ, content)
	if err != nil {
		// A node without price endpoints (or that cannot price this
		// content) decides when the message arrives.
		if stderrIsTerminal() {
			stderr(fmt.Sprintf("cost: unknown (%v)", err))
		}
		return nil
	}
	cost, err := balances.ParseAmount(p.Cost)
	if err != nil {
		return fmt.Errorf("price estimate: cost %q: %w", p.Cost, err)
	}
	line := fmt.Sprintf("cost: %s ALEPH held (%s)", balances.FormatAmount(cost), p.PaymentType)
	switch p.PaymentType {
	case economy.PaymentCredit:
		line = fmt.Sprintf("cost: %s credits per second (%s per day, credit)", balances.FormatAmount(cost),
			balances.FormatAmount(new(big.Int).Mul(cost, big.NewInt(economy.CreditRunway))))
	case economy.PaymentSuperfluid:
		line = fmt.Sprintf("cost: %s ALEPH per second (superfluid stream)", balances.FormatAmount(cost))
	}
	if p.Quota || stderrIsTerminal() {
		stderr(line)
	}
	if !p.Quota || cost.Sign() == 0 || p.PaymentType == economy.PaymentSuperfluid {
		return nil
	}
	b, err := c.Balance(ctx, owner, "")
	if err != nil {
		return err
	}
	num := func(n json.Number) *big.Int {
		v, err := balances.ParseAmount(string(n))
		if err != nil {
			return new(big.Int)
		}
		return v
	}
	if p.PaymentType == economy.PaymentCredit {
		need := new(big.Int).Mul(cost, big.NewInt(economy.CreditRunway))
		if have := num(b.CreditBalance); have.Cmp(need) < 0 {
			return fmt.Errorf("not sent: one day of this %s costs %s credits and %s has %s credits", typ, balances.FormatAmount(need), owner, balances.FormatAmount(have))
		}
		return nil
	}
	free := new(big.Int).Sub(num(b.Balance), num(b.LockedAmount))
	if free.Cmp(cost) < 0 {
		return fmt.Errorf("not sent: this %s holds %s ALEPH and %s has %s ALEPH of which %s are held by earlier messages: top it up or pay with --payment-type credit",
			typ, balances.FormatAmount(cost), owner, strings.TrimSuffix(string(b.Balance), ""), balances.FormatAmount(num(b.LockedAmount)))
	}
	return nil
}

func stderrIsTerminal() bool {
	fd := os.Stderr.Fd()
	return isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
}
