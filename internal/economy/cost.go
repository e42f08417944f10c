package economy

import (
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/goaleph/goaleph/internal/balances"
	"github.com/goaleph/goaleph/message"
)

// Payment types (content.payment.type; absent means hold).
const (
	PaymentHold       = "hold"
	PaymentSuperfluid = "superfluid"
	PaymentCredit     = "credit"
)

// Cost line types, as the reference names them in its cost details.
const (
	LineExecution      = "EXECUTION"
	LineRootfs         = "EXECUTION_INSTANCE_VOLUME_ROOTFS"
	LineCode           = "EXECUTION_PROGRAM_VOLUME_CODE"
	LineRuntime        = "EXECUTION_PROGRAM_VOLUME_RUNTIME"
	LineData           = "EXECUTION_PROGRAM_VOLUME_DATA"
	LineImmutable      = "EXECUTION_VOLUME_INMUTABLE" // sic: the reference's spelling
	LinePersistent     = "EXECUTION_VOLUME_PERSISTENT"
	LineVolumeDiscount = "EXECUTION_VOLUME_DISCOUNT"
	LineStorage        = "STORAGE"
)

const (
	// MiB is a mebibyte in bytes.
	MiB = 1 << 20
	// hour is an hour in seconds: stream and credit prices are hourly, the
	// costs kept per second.
	hour = 3600
	// MinStoreCreditMiB is the least size a credit-paid STORE is billed for.
	MinStoreCreditMiB = 25
	// FreeStoreBytes is the largest hold-paid STORE that is free until the
	// credit-only cut-off (the unauthenticated upload limit).
	FreeStoreBytes = 25 * MiB
)

var (
	unit = new(big.Int).Exp(big.NewInt(10), big.NewInt(balances.Decimals), nil) // one token or credit
	// minCreditPerSecond is 1 credit per hour, the least credit cost of a
	// line, per second.
	minCreditPerSecond = new(big.Int).Quo(unit, big.NewInt(hour))
)

// Line is one cost line of a message. Hold is the amount held; Stream
// (ALEPH) and Credit (credits) are per second. All are in base units
// (10⁻¹⁸), floored once from the exact value.
type Line struct {
	Type, Name, Ref      string
	Hold, Stream, Credit *big.Int
	// SizeMiB is the size a storage line is billed for (nil otherwise).
	SizeMiB *big.Rat
}

// Costs are the cost lines of a message, for the payment type it uses.
type Costs struct {
	Payment string
	Product string
	Lines   []Line
	// Free says the message costs nothing in hold whatever its lines say
	// (a small STORE, or one older than the free cut-off).
	Free bool
}

// Total is what the message costs in its payment type: the hold amount,
// or the stream or credit amount per second. A free message costs 0.
func (c *Costs) Total() *big.Int {
	t := new(big.Int)
	if c.Free {
		return t
	}
	for _, l := range c.Lines {
		switch c.Payment {
		case PaymentSuperfluid:
			t.Add(t, l.Stream)
		case PaymentCredit:
			t.Add(t, l.Credit)
		default:
			t.Add(t, l.Hold)
		}
	}
	return t
}

// Sum returns the three totals of the lines.
func (c *Costs) Sum() (hold, stream, credit *big.Int) {
	hold, stream, credit = new(big.Int), new(big.Int), new(big.Int)
	for _, l := range c.Lines {
		hold.Add(hold, l.Hold)
		stream.Add(stream, l.Stream)
		credit.Add(credit, l.Credit)
	}
	return hold, stream, credit
}

// Files tells the size of the files volumes refer to: by the hash of the
// STORE message that stores it, or with useLatest by the latest file of
// that STORE's ref. ok is false when the reference is unknown (legacy
// volumes; the reference skips them).
type Files interface {
	FileSize(ref string, useLatest bool) (size int64, ok bool, err error)
}

// content is what costs need of a STORE, PROGRAM or INSTANCE content,
// including the fields of the reference's estimate messages
// (estimated_size_mib).
type content struct {
	Address string `json:"address"`
	Payment *struct {
		Type string `json:"type"`
	} `json:"payment"`
	// STORE
	ItemHash      string `json:"item_hash"`
	EstimatedSize int64  `json:"estimated_size_mib"`
	// executables
	Resources struct {
		VCPUs  int64 `json:"vcpus"`
		Memory int64 `json:"memory"`
	} `json:"resources"`
	Environment struct {
		Internet         bool            `json:"internet"`
		TrustedExecution json.RawMessage `json:"trusted_execution"`
	} `json:"environment"`
	On struct {
		Persistent bool `json:"persistent"`
	} `json:"on"`
	Requirements struct {
		GPU []struct {
			DeviceID string `json:"device_id"`
		} `json:"gpu"`
	} `json:"requirements"`
	Code    *volume  `json:"code"`
	Runtime *volume  `json:"runtime"`
	Data    *volume  `json:"data"`
	Volumes []volume `json:"volumes"`
	Rootfs  *struct {
		Parent  volume `json:"parent"`
		SizeMiB int64  `json:"size_mib"`
	} `json:"rootfs"`
}

type volume struct {
	Ref           string `json:"ref"`
	UseLatest     bool   `json:"use_latest"`
	Mount         string `json:"mount"`
	SizeMiB       int64  `json:"size_mib"`
	EstimatedSize int64  `json:"estimated_size_mib"`
	Ephemeral     bool   `json:"ephemeral"`
	Persistence   string `json:"persistence"`
}

// PaymentType returns the payment type of a content (hold when absent).
func PaymentType(raw json.RawMessage) string {
	var c struct {
		Payment *struct {
			Type string `json:"type"`
		} `json:"payment"`
	}
	if json.Unmarshal(raw, &c) != nil || c.Payment == nil || c.Payment.Type == "" {
		return PaymentHold
	}
	return c.Payment.Type
}

// CompatibleGPUs maps PCI device ids to GPU models (the reference's default
// settings aggregate, compatible_gpus).
var CompatibleGPUs = map[string]string{
	"10de:26b9": "L40S", "10de:2685": "RTX 5090", "10de:2687": "RTX 5090", "10de:2684": "RTX 4090",
	"10de:2204": "RTX 3090", "10de:2203": "RTX 3090", "10de:27b0": "RTX 4000 ADA", "10de:27b2": "RTX 4000 ADA",
	"10de:2336": "H100", "10de:22a3": "H100", "10de:2313": "H100", "10de:2330": "H100", "10de:2331": "H100",
	"10de:2080": "A100", "10de:2081": "A100", "10de:20b2": "A100", "10de:20b5": "A100", "10de:20b8": "A100",
}

// Compute returns the cost lines of a message's content, of type t, with
// the price table m. storeSize is the size of a STORE's file in bytes (-1:
// unknown, then its estimated_size_mib counts). Errors carry
// message.CodeInvalidFormat.
func Compute(m Model, t message.Type, raw json.RawMessage, storeSize int64, files Files) (*Costs, error) {
	var c content
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, message.Errorf(message.CodeInvalidFormat, "content: %v", err)
	}
	pay := PaymentHold
	if c.Payment != nil && c.Payment.Type != "" {
		pay = c.Payment.Type
	}
	switch pay {
	case PaymentHold, PaymentSuperfluid, PaymentCredit:
	default:
		return nil, message.Errorf(message.CodeInvalidFormat, "unknown payment type %s", message.Quote(pay))
	}
	out := &Costs{Payment: pay}
	switch t {
	case message.TypeStore:
		out.Product = ProductStorage
		mib := new(big.Rat)
		switch {
		case storeSize >= 0:
			mib.SetFrac64(storeSize, MiB)
		case c.EstimatedSize > 0:
			mib.SetInt64(c.EstimatedSize)
		default:
			return out, nil
		}
		if pay == PaymentCredit && mib.Cmp(big.NewRat(MinStoreCreditMiB, 1)) < 0 {
			mib.SetInt64(MinStoreCreditMiB)
		}
		out.Lines = []Line{storageLine(m[ProductStorage], LineStorage, LineStorage, c.ItemHash, mib)}
		return out, nil
	case message.TypeProgram, message.TypeInstance:
		return executable(m, t, &c, out, files)
	}
	return nil, message.Errorf(message.CodeInvalidFormat, "%s messages have no cost", t)
}

func executable(m Model, t message.Type, c *content, out *Costs, files Files) (*Costs, error) {
	switch {
	case t == message.TypeProgram && c.On.Persistent:
		out.Product = ProductProgramPersistent
	case t == message.TypeProgram:
		out.Product = ProductProgram
	case len(c.Environment.TrustedExecution) > 0 && string(c.Environment.TrustedExecution) != "null":
		out.Product = ProductInstanceConfidential
	case len(c.Requirements.GPU) > 0:
		out.Product = ProductInstanceGPUPremium
	default:
		out.Product = ProductInstance
	}
	p := m[out.Product]
	mult := int64(1)
	if t == message.TypeProgram && !c.On.Persistent && c.Environment.Internet {
		mult = 2 // an on-demand program with internet costs double
	}
	cus := ComputeUnits(p.ComputeUnit, c.Resources.VCPUs, c.Resources.Memory)
	if len(c.Requirements.GPU) > 0 {
		perTier := map[string]int64{}
		for _, g := range c.Requirements.GPU {
			model, ok := CompatibleGPUs[g.DeviceID]
			if !ok {
				return nil, message.Errorf(message.CodeInvalidFormat, "GPU device_id %s is not a compatible GPU", message.Quote(g.DeviceID))
			}
			product, n := gpuTier(m, model)
			if n == 0 {
				return nil, message.Errorf(message.CodeInvalidFormat, "GPU model %s is in no pricing tier", model)
			}
			perTier[product] += n
		}
		for _, name := range []string{ProductInstanceGPUPremium, ProductInstanceGPUStandard} {
			if n := perTier[name]; n > 0 {
				out.Lines = append(out.Lines, ExecutionLine(m[name], n*mult))
			}
		}
	} else {
		out.Lines = append(out.Lines, ExecutionLine(p, cus*mult))
	}
	// Volumes, in the reference's order, then the included-disk discount.
	var vols []Line
	add := func(typ, name, ref string, mib *big.Rat) {
		vols = append(vols, storageLine(p, typ, name, ref, mib))
	}
	byRef := func(typ, name string, v *volume) error {
		if v.EstimatedSize > 0 {
			add(typ, name, v.Ref, big.NewRat(v.EstimatedSize, 1))
			return nil
		}
		if files == nil {
			return nil
		}
		size, ok, err := files.FileSize(v.Ref, v.UseLatest)
		if err != nil || !ok {
			return err
		}
		add(typ, name, v.Ref, big.NewRat(size, MiB))
		return nil
	}
	if c.Rootfs != nil {
		add(LineRootfs, LineRootfs, c.Rootfs.Parent.Ref, big.NewRat(c.Rootfs.SizeMiB, 1))
	}
	for _, x := range []struct {
		typ string
		v   *volume
	}{{LineCode, c.Code}, {LineRuntime, c.Runtime}, {LineData, c.Data}} {
		if x.v == nil || x.v.Ref == "" || t != message.TypeProgram {
			continue
		}
		if err := byRef(x.typ, x.typ, x.v); err != nil {
			return nil, err
		}
	}
	for i, v := range c.Volumes {
		if v.Ref != "" {
			name := fmt.Sprintf("#%d:%s", i, or(v.Mount, LineImmutable))
			if err := byRef(LineImmutable, name, &v); err != nil {
				return nil, err
			}
			continue
		}
		add(LinePersistent, fmt.Sprintf("#%d:%s", i, or(v.Mount, LinePersistent)), "", big.NewRat(v.SizeMiB, 1))
	}
	out.Lines = append(out.Lines, vols...)
	out.Lines = append(out.Lines, discount(p, cus, vols))
	return out, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ComputeUnits is the number of compute units vcpus and memory (MiB) need:
// max(vcpus, ⌈memory / the unit's memory⌉).
func ComputeUnits(cu *ComputeUnit, vcpus, memoryMiB int64) int64 {
	per := int64(2048)
	if cu != nil && cu.MemoryMiB > 0 {
		per = cu.MemoryMiB
	}
	return max(vcpus, (memoryMiB+per-1)/per)
}

// gpuTier finds the GPU product whose tiers list model, premium first, and
// the compute units the model needs.
func gpuTier(m Model, model string) (string, int64) {
	for _, name := range []string{ProductInstanceGPUPremium, ProductInstanceGPUStandard} {
		for _, t := range m[name].Tiers {
			if t.Model == model {
				return name, t.ComputeUnits
			}
		}
	}
	return "", 0
}

// ExecutionLine is the EXECUTION line of n compute units (multiplier
// included) of product p.
func ExecutionLine(p *Product, n int64) Line {
	nr := big.NewRat(n, 1)
	return Line{Type: LineExecution, Name: p.Name,
		Hold:   floor(mulRat(nr, p.CU.Hold)),
		Stream: floor(perSecond(mulRat(nr, p.CU.Stream))),
		Credit: minCredit(floor(perSecond(mulRat(nr, p.CU.Credit))), n > 0)}
}

// storageLine prices mib MiB at p's storage rates.
func storageLine(p *Product, typ, name, ref string, mib *big.Rat) Line {
	return Line{Type: typ, Name: name, Ref: ref, SizeMiB: mib,
		Hold:   floor(mulRat(mib, p.Storage.Hold)),
		Stream: floor(perSecond(mulRat(mib, p.Storage.Stream))),
		Credit: minCredit(floor(perSecond(mulRat(mib, p.Storage.Credit))), mib.Sign() > 0)}
}

// discount is the negative line for the disk included in cus compute
// units: at most what the volumes cost, column by column.
func discount(p *Product, cus int64, vols []Line) Line {
	included := new(big.Rat)
	if p.ComputeUnit != nil {
		included.SetInt64(p.ComputeUnit.DiskMiB * cus)
	}
	col := func(price *big.Int, hourly bool, get func(Line) *big.Int) *big.Int {
		sum := new(big.Int)
		for _, v := range vols {
			sum.Add(sum, get(v))
		}
		limit := mulRat(included, price)
		if hourly {
			limit = perSecond(limit)
		}
		d := new(big.Rat).SetInt(sum)
		if limit.Cmp(d) < 0 {
			d = limit
		}
		return floor(d.Neg(d))
	}
	return Line{Type: LineVolumeDiscount, Name: LineVolumeDiscount,
		Hold:   col(p.Storage.Hold, false, func(l Line) *big.Int { return l.Hold }),
		Stream: col(p.Storage.Stream, true, func(l Line) *big.Int { return l.Stream }),
		Credit: col(p.Storage.Credit, true, func(l Line) *big.Int { return l.Credit })}
}

// mulRat is q × price (base units); a nil price is 0.
func mulRat(q *big.Rat, price *big.Int) *big.Rat {
	if price == nil {
		return new(big.Rat)
	}
	return new(big.Rat).Mul(q, new(big.Rat).SetInt(price))
}

func perSecond(r *big.Rat) *big.Rat { return r.Quo(r, big.NewRat(hour, 1)) }

// floor rounds toward −∞ to a whole base unit: the reference's 18-decimal
// ROUND_FLOOR.
func floor(r *big.Rat) *big.Int {
	return new(big.Int).Div(r.Num(), r.Denom()) // Euclidean: floor for a positive divisor
}

// minCredit applies the floor of 1 credit per hour to a line that costs
// something.
func minCredit(v *big.Int, applies bool) *big.Int {
	if applies && v.Cmp(minCreditPerSecond) < 0 {
		return new(big.Int).Set(minCreditPerSecond)
	}
	return v
}

// FormatCost writes base units as the reference writes costs: a decimal
// with exactly 18 decimals ("1.000000000000000000").
func FormatCost(v *big.Int) string {
	if v == nil {
		v = new(big.Int)
	}
	a := new(big.Int).Abs(v)
	q, r := new(big.Int).QuoRem(a, unit, new(big.Int))
	frac := r.String()
	for len(frac) < balances.Decimals {
		frac = "0" + frac
	}
	s := q.String() + "." + frac
	if v.Sign() < 0 {
		s = "-" + s
	}
	return s
}
