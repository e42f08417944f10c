// Package economy computes what messages cost and whether their owner can
// pay, without I/O: the price table (the settings address's `pricing`
// aggregate over the reference's defaults), compute units, the cost lines
// of STORE, PROGRAM and INSTANCE messages in exact 18-decimal arithmetic,
// and the admission rules of the payment types (spec network.md §4).
package economy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"

	"github.com/goaleph/goaleph/internal/balances"
	"github.com/goaleph/goaleph/message"
)

// PricingAddress owns the `pricing` aggregate on mainnet (the reference's
// settings address); PricingKey is its key.
const (
	PricingAddress = "0xFba561a84A537fCaa567bb7A2257e7142701ae2A"
	PricingKey     = "pricing"
)

// The products of the price table.
const (
	ProductStorage              = "storage"
	ProductWeb3Hosting          = "web3_hosting"
	ProductProgram              = "program"
	ProductProgramPersistent    = "program_persistent"
	ProductInstance             = "instance"
	ProductInstanceConfidential = "instance_confidential"
	ProductInstanceGPUStandard  = "instance_gpu_standard"
	ProductInstanceGPUPremium   = "instance_gpu_premium"
)

// Products lists the products in the order the price table shows them.
var Products = []string{ProductProgram, ProductProgramPersistent, ProductInstance, ProductInstanceConfidential,
	ProductInstanceGPUStandard, ProductInstanceGPUPremium, ProductStorage, ProductWeb3Hosting}

// Rates are the prices of one unit (a compute unit, or a MiB of storage) in
// the three payment types, in base units of 10⁻¹⁸: Hold is held (ALEPH),
// Stream (PAYG, ALEPH) and Credit (credits) are per hour. A nil field is a
// price the product does not have.
type Rates struct {
	Hold, Stream, Credit *big.Int
}

// ComputeUnit is what one compute unit of a product gives.
type ComputeUnit struct {
	VCPUs     int64 `json:"vcpus"`
	MemoryMiB int64 `json:"memory_mib"`
	DiskMiB   int64 `json:"disk_mib"`
}

// Tier is one entry of a product's tiers: a size offered by the UIs, or for
// GPU products a GPU model and the compute units it needs at least.
type Tier struct {
	ID           string `json:"id"`
	ComputeUnits int64  `json:"compute_units"`
	Model        string `json:"model,omitempty"`
	VRAM         int64  `json:"vram,omitempty"`
}

// Product is the pricing of one product.
type Product struct {
	Name        string
	ComputeUnit *ComputeUnit // nil for storage products
	CU          Rates        // price per compute unit
	Storage     Rates        // price per MiB (beyond the included disk, for executables)
	Fixed       *big.Int     // a fixed hold price (web3_hosting), or nil
	Tiers       []Tier
}

// Model is a price table: every product by name.
type Model map[string]*Product

// DefaultAggregate is the reference's default `pricing` aggregate (spec
// network.md §4.4), with the credit prices of 1 USD = 1,000,000 credits.
var DefaultAggregate = json.RawMessage(`{
 "program": {"price": {"storage": {"payg": "0.000000977", "holding": "0.05", "credit": "0.977"},
   "compute_unit": {"payg": "0.011", "holding": "200", "credit": "11000"}},
  "tiers": ` + uiTiers + `, "compute_unit": {"vcpus": 1, "disk_mib": 2048, "memory_mib": 2048}},
 "program_persistent": {"price": {"storage": {"payg": "0.000000977", "holding": "0.05", "credit": "0.977"},
   "compute_unit": {"payg": "0.055", "holding": "1000", "credit": "55000"}},
  "tiers": ` + uiTiers + `, "compute_unit": {"vcpus": 1, "disk_mib": 20480, "memory_mib": 2048}},
 "instance": {"price": {"storage": {"payg": "0.000000977", "holding": "0.05", "credit": "0.17967489030626108"},
   "compute_unit": {"payg": "0.055", "holding": "1000", "credit": "14250"}},
  "tiers": ` + uiTiers + `, "compute_unit": {"vcpus": 1, "disk_mib": 20480, "memory_mib": 2048}},
 "instance_confidential": {"price": {"storage": {"payg": "0.000000977", "holding": "0.05", "credit": "0.17967489030626108"},
   "compute_unit": {"payg": "0.11", "holding": "2000", "credit": "28500"}},
  "tiers": ` + uiTiers + `, "compute_unit": {"vcpus": 1, "disk_mib": 20480, "memory_mib": 2048}},
 "instance_gpu_standard": {"price": {"storage": {"payg": "0.000000977", "credit": "0.17967489030626108"},
   "compute_unit": {"payg": "0.28", "credit": "43125"}},
  "tiers": [{"id": "tier-1", "model": "RTX 4000 ADA", "vram": 20480, "compute_units": 3},
   {"id": "tier-2", "model": "RTX 3090", "vram": 24576, "compute_units": 4},
   {"id": "tier-3", "model": "RTX 4090", "vram": 24576, "compute_units": 6},
   {"id": "tier-4", "model": "L40S", "vram": 49152, "compute_units": 12}],
  "compute_unit": {"vcpus": 1, "disk_mib": 61440, "memory_mib": 6144}},
 "instance_gpu_premium": {"price": {"storage": {"payg": "0.000000977", "credit": "0.17967489030626108"},
   "compute_unit": {"payg": "0.56", "credit": "86250"}},
  "tiers": [{"id": "tier-1", "model": "A100", "vram": 81920, "compute_units": 16},
   {"id": "tier-2", "model": "H100", "vram": 81920, "compute_units": 24}],
  "compute_unit": {"vcpus": 1, "disk_mib": 61440, "memory_mib": 6144}},
 "storage": {"price": {"storage": {"holding": "0.333333333", "credit": "0.17967489030626108"}}},
 "web3_hosting": {"price": {"fixed": 50, "storage": {"holding": "0.333333333", "credit": "0.17967489030626108"}}}
}`)

const uiTiers = `[{"id": "tier-1", "compute_units": 1}, {"id": "tier-2", "compute_units": 2},
  {"id": "tier-3", "compute_units": 4}, {"id": "tier-4", "compute_units": 6},
  {"id": "tier-5", "compute_units": 8}, {"id": "tier-6", "compute_units": 12}]`

// Default is the price table of DefaultAggregate.
var Default = func() Model {
	m, err := BuildModel(nil)
	if err != nil {
		panic(err)
	}
	return m
}()

// BuildModel returns the price table of an aggregate value (the merged
// content of the `pricing` aggregate; nil for none): each product's
// fields override the defaults' leaf by leaf, as the reference backfills a
// partial aggregate from its defaults. Unknown products are ignored; a
// malformed known one is an error.
func BuildModel(aggregate json.RawMessage) (Model, error) {
	var base map[string]any
	if err := json.Unmarshal(DefaultAggregate, &base); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(aggregate)) > 0 {
		var over map[string]any
		dec := json.NewDecoder(bytes.NewReader(aggregate))
		dec.UseNumber()
		if err := dec.Decode(&over); err != nil {
			return nil, fmt.Errorf("pricing: not a JSON object: %v", err)
		}
		base = deepMerge(base, over)
	}
	m := Model{}
	for _, name := range Products {
		raw, _ := json.Marshal(base[name])
		p, err := parseProduct(name, raw)
		if err != nil {
			return nil, err
		}
		m[name] = p
	}
	return m, nil
}

// ValidateAggregate checks the content of a `pricing` aggregate element:
// every known product it sets must be well formed once merged over the
// defaults. The error says what is wrong.
func ValidateAggregate(content json.RawMessage) error {
	var over map[string]json.RawMessage
	if err := json.Unmarshal(content, &over); err != nil || over == nil {
		return fmt.Errorf("pricing: content is not a JSON object")
	}
	for _, name := range Products {
		if r, ok := over[name]; ok && (len(bytes.TrimSpace(r)) == 0 || bytes.TrimSpace(r)[0] != '{') {
			return fmt.Errorf("pricing: %s must be an object", name)
		}
	}
	_, err := BuildModel(content)
	return err
}

func deepMerge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		bm, ok1 := out[k].(map[string]any)
		om, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			out[k] = deepMerge(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}

type productJSON struct {
	Price struct {
		Storage     *ratesJSON      `json:"storage"`
		ComputeUnit *ratesJSON      `json:"compute_unit"`
		Fixed       json.RawMessage `json:"fixed"`
	} `json:"price"`
	Tiers       []Tier       `json:"tiers"`
	ComputeUnit *ComputeUnit `json:"compute_unit"`
}

type ratesJSON struct {
	Holding json.RawMessage `json:"holding"`
	Payg    json.RawMessage `json:"payg"`
	Credit  json.RawMessage `json:"credit"`
}

func parseProduct(name string, raw json.RawMessage) (*Product, error) {
	var pj productJSON
	if err := json.Unmarshal(raw, &pj); err != nil {
		return nil, fmt.Errorf("pricing: %s: %v", name, err)
	}
	p := &Product{Name: name, ComputeUnit: pj.ComputeUnit, Tiers: pj.Tiers}
	var err error
	if p.Storage, err = pj.Price.Storage.rates(name + ".price.storage"); err != nil {
		return nil, err
	}
	if p.CU, err = pj.Price.ComputeUnit.rates(name + ".price.compute_unit"); err != nil {
		return nil, err
	}
	if p.Fixed, err = price(pj.Price.Fixed, name+".price.fixed"); err != nil {
		return nil, err
	}
	if cu := p.ComputeUnit; cu != nil && (cu.VCPUs < 1 || cu.MemoryMiB < 1 || cu.DiskMiB < 0) {
		return nil, fmt.Errorf("pricing: %s.compute_unit needs vcpus ≥ 1, memory_mib ≥ 1 and disk_mib ≥ 0", name)
	}
	executable := name != ProductStorage && name != ProductWeb3Hosting
	if executable && (p.ComputeUnit == nil || (p.CU.Hold == nil && p.CU.Stream == nil && p.CU.Credit == nil)) {
		return nil, fmt.Errorf("pricing: %s needs a compute_unit and its price", name)
	}
	for i, t := range p.Tiers {
		if t.ComputeUnits < 1 {
			return nil, fmt.Errorf("pricing: %s.tiers[%d].compute_units must be ≥ 1", name, i)
		}
	}
	return p, nil
}

func (r *ratesJSON) rates(what string) (Rates, error) {
	var out Rates
	if r == nil {
		return out, nil
	}
	var err error
	if out.Hold, err = price(r.Holding, what+".holding"); err != nil {
		return out, err
	}
	if out.Stream, err = price(r.Payg, what+".payg"); err != nil {
		return out, err
	}
	out.Credit, err = price(r.Credit, what+".credit")
	return out, err
}

// price reads a non-negative amount written as a JSON number or a
// decimal string; absent or null is nil.
func price(raw json.RawMessage, what string) (*big.Int, error) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s == "null" {
		return nil, nil
	}
	if s[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("pricing: %s: %v", what, err)
		}
	}
	v, err := balances.ParseAmount(s)
	if err != nil || v.Sign() < 0 {
		return nil, fmt.Errorf("pricing: %s must be a non-negative decimal, not %s", what, message.Quote(s))
	}
	return v, nil
}

// TimedElement is one element of the pricing aggregate: its content and
// the time it takes effect (its content time).
type TimedElement struct {
	Time    float64
	Content json.RawMessage
}

// Timeline is the price table as it changed over time: Model(t) is the
// table in force at time t, built from the elements dated at or before t.
type Timeline struct {
	times  []float64 // ascending; times[0] = -inf (the defaults)
	models []Model
}

// NewTimeline builds the timeline of the pricing aggregate's elements.
// Elements are merged shallowly in time order, as the aggregate is; an
// element whose merged table is malformed (accepted before validation
// existed, or from a replaced owner) leaves the previous table in force.
func NewTimeline(els []TimedElement) *Timeline {
	sort.SliceStable(els, func(i, j int) bool { return els[i].Time < els[j].Time })
	tl := &Timeline{times: []float64{-1}, models: []Model{Default}}
	merged := map[string]json.RawMessage{}
	for _, e := range els {
		var top map[string]json.RawMessage
		if json.Unmarshal(e.Content, &top) != nil {
			continue
		}
		next := make(map[string]json.RawMessage, len(merged)+len(top))
		for k, v := range merged {
			next[k] = v
		}
		for k, v := range top {
			next[k] = v
		}
		raw, _ := json.Marshal(next)
		m, err := BuildModel(raw)
		if err != nil {
			continue
		}
		merged = next
		tl.times = append(tl.times, e.Time)
		tl.models = append(tl.models, m)
	}
	return tl
}

// Model returns the price table in force at time t.
func (tl *Timeline) Model(t float64) Model {
	i := sort.Search(len(tl.times), func(i int) bool { return tl.times[i] > t }) - 1
	if i < 0 {
		i = 0
	}
	return tl.models[i]
}
