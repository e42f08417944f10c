package economy

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/balances"
	"github.com/goaleph/goaleph/message"
)

func amount(t *testing.T, s string) *big.Int {
	t.Helper()
	v, err := balances.ParseAmount(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// hourly checks that a per-second cost is the hourly figure want, to the
// 3600 base units that flooring per second may lose.
func hourly(t *testing.T, what string, perSecond *big.Int, want string) {
	t.Helper()
	got := new(big.Int).Mul(perSecond, big.NewInt(hour))
	diff := new(big.Int).Sub(amount(t, want), got)
	if diff.Sign() < 0 || diff.Cmp(big.NewInt(hour)) >= 0 {
		t.Errorf("%s: %s/s × 3600 = %s, want %s", what, FormatCost(perSecond), FormatCost(got), want)
	}
}

// TestPriceTable: one compute unit of every product of the price table
// costs the spec's figures (network.md §4.4).
func TestPriceTable(t *testing.T) {
	for _, c := range []struct {
		product              string
		hold, stream, credit string // hold; stream and credit per hour
	}{
		{ProductProgram, "200", "0.011", "11000"},
		{ProductProgramPersistent, "1000", "0.055", "55000"},
		{ProductInstance, "1000", "0.055", "14250"},
		{ProductInstanceConfidential, "2000", "0.11", "28500"},
		{ProductInstanceGPUStandard, "0", "0.28", "43125"},
		{ProductInstanceGPUPremium, "0", "0.56", "86250"},
	} {
		l := ExecutionLine(Default[c.product], 1)
		if l.Hold.Cmp(amount(t, c.hold)) != 0 {
			t.Errorf("%s: hold %s, want %s", c.product, FormatCost(l.Hold), c.hold)
		}
		hourly(t, c.product+" stream", l.Stream, c.stream)
		hourly(t, c.product+" credit", l.Credit, c.credit)
	}
	// One instance CU: 14,250 credits/h, floored per second to 18 decimals.
	if got := FormatCost(ExecutionLine(Default[ProductInstance], 1).Credit); got != "3.958333333333333333" {
		t.Errorf("instance credit per second = %s", got)
	}
	// $0.01425/h at 1,000,000 credits per USD: about $10.40 per 730 h.
	month := new(big.Int).Mul(ExecutionLine(Default[ProductInstance], 1).Credit, big.NewInt(730*hour))
	if got := FormatCost(month); !strings.HasPrefix(got, "10402499.9999") {
		t.Errorf("instance CU for 730 h = %s credits, want about 10,402,500", got)
	}
	// GPU tiers: the standard and premium compute-unit counts.
	for model, want := range map[string]int64{"RTX 4000 ADA": 3, "RTX 3090": 4, "RTX 4090": 6, "L40S": 12, "A100": 16, "H100": 24} {
		if _, n := gpuTier(Default, model); n != want {
			t.Errorf("%s: %d CU, want %d", model, n, want)
		}
	}
	if f := Default[ProductWeb3Hosting].Fixed; f.Cmp(amount(t, "50")) != 0 {
		t.Errorf("web3_hosting fixed = %s", FormatCost(f))
	}
}

func storeCosts(t *testing.T, payment string, size int64) *Costs {
	t.Helper()
	raw := `{"address":"0xa","time":1,"item_type":"storage","item_hash":"` + strings.Repeat("a", 64) + `"`
	if payment != "" {
		raw += `,"payment":{"type":"` + payment + `"}`
	}
	c, err := Compute(Default, message.TypeStore, json.RawMessage(raw+"}"), size, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStorage: 3 MiB per ALEPH held; credits per MiB·hour with the 25 MiB
// minimum; about 134k credits per GiB-month.
func TestStorage(t *testing.T) {
	one := amount(t, "1")
	if c := storeCosts(t, "", 3*MiB); c.Total().Cmp(one) > 0 || FormatCost(c.Total()) != "0.999999999000000000" {
		t.Errorf("3 MiB hold = %s, want 0.999999999 (3 MiB per ALEPH)", FormatCost(c.Total()))
	}
	if c := storeCosts(t, "", 3*MiB+MiB/100); c.Total().Cmp(one) <= 0 {
		t.Errorf("3.01 MiB hold = %s, want more than 1 ALEPH", FormatCost(c.Total()))
	}
	// A file of one byte costs its share, floored.
	if got := FormatCost(storeCosts(t, "hold", 1).Total()); got != "0.000000317891438484" {
		t.Errorf("1 byte = %s", got)
	}
	// Credit: a 1 MiB file is billed as 25 MiB.
	c := storeCosts(t, PaymentCredit, MiB)
	if c.Lines[0].SizeMiB.Cmp(big.NewRat(25, 1)) != 0 {
		t.Errorf("credit STORE billed for %s MiB, want 25", c.Lines[0].SizeMiB.FloatString(3))
	}
	hourly(t, "25 MiB credit", c.Total(), "4.491872257656527")
	gib := storeCosts(t, PaymentCredit, 1024*MiB).Total()
	month := new(big.Int).Mul(gib, big.NewInt(730*hour))
	if got := FormatCost(month); !strings.HasPrefix(got, "134310.") {
		t.Errorf("1 GiB for 730 h = %s credits, want about 134,310 (spec: about 134k)", got)
	}
}

type files map[string]int64

func (f files) FileSize(ref string, useLatest bool) (int64, bool, error) {
	s, ok := f[ref]
	return s, ok, nil
}

func hash(c byte) string { return strings.Repeat(string(c), 64) }

func program(extra string) json.RawMessage {
	return json.RawMessage(`{"address":"0xa","time":1,"type":"vm-function","allow_amend":false,
		"code":{"encoding":"zip","entrypoint":"main:app","ref":"` + hash('c') + `","use_latest":false},
		"runtime":{"ref":"` + hash('r') + `","use_latest":true},"on":{"http":true` + extra + `},
		"resources":{"vcpus":1,"memory":2048,"seconds":30}`)
}

func TestExecutables(t *testing.T) {
	fs := files{hash('c'): 3 * MiB, hash('r'): 200 * MiB, hash('v'): 5000 * MiB}
	compute := func(tp message.Type, raw string) *Costs {
		t.Helper()
		c, err := Compute(Default, tp, json.RawMessage(raw), -1, fs)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// An on-demand program: 200 ALEPH; its 203 MiB of volumes are within
	// the 2 GiB included.
	c := compute(message.TypeProgram, string(program(""))+"}")
	if c.Product != ProductProgram || FormatCost(c.Total()) != "200.000000000000000000" {
		t.Errorf("program: %s %s", c.Product, FormatCost(c.Total()))
	}
	// With internet it costs double.
	c = compute(message.TypeProgram, string(program(""))+`,"environment":{"internet":true}}`)
	if FormatCost(c.Total()) != "400.000000000000000000" {
		t.Errorf("program with internet: %s", FormatCost(c.Total()))
	}
	// Persistent: 1000 per CU, never the internet multiplier; 2 CUs by memory.
	c = compute(message.TypeProgram, strings.Replace(string(program(`,"persistent":true`)), `"memory":2048`, `"memory":4096`, 1)+`,"environment":{"internet":true}}`)
	if c.Product != ProductProgramPersistent || FormatCost(c.Total()) != "2000.000000000000000000" {
		t.Errorf("persistent program: %s %s", c.Product, FormatCost(c.Total()))
	}
	// A volume beyond the included disk is billed at the storage price:
	// 3 + 200 + 5000 MiB − 2048 included = 3155 MiB × 0.05.
	c = compute(message.TypeProgram, string(program(""))+`,"volumes":[{"ref":"`+hash('v')+`","mount":"/data"}]}`)
	if got := FormatCost(c.Total()); got != "357.750000000000000000" {
		t.Errorf("program with a 5000 MiB volume: %s, want 357.75", got)
	}
	if c.Lines[3].Name != "#0:/data" || c.Lines[3].Type != LineImmutable {
		t.Errorf("volume line %+v", c.Lines[3])
	}
	instance := func(rootfs int64, extra string) string {
		return `{"address":"0xa","time":1,"allow_amend":false,"resources":{"vcpus":1,"memory":2048,"seconds":30},
			"rootfs":{"parent":{"ref":"` + hash('p') + `","use_latest":true},"persistence":"host","size_mib":` + big.NewInt(rootfs).String() + `}` + extra + `}`
	}
	// An instance: 1000 per CU, 20 GiB of rootfs included.
	if c = compute(message.TypeInstance, instance(20480, "")); FormatCost(c.Total()) != "1000.000000000000000000" {
		t.Errorf("instance: %s", FormatCost(c.Total()))
	}
	if c = compute(message.TypeInstance, instance(30720, "")); FormatCost(c.Total()) != "1512.000000000000000000" {
		t.Errorf("instance with 30 GiB: %s, want 1512", FormatCost(c.Total()))
	}
	c = compute(message.TypeInstance, instance(20480, `,"environment":{"trusted_execution":{"firmware":"`+hash('f')+`"}}`))
	if c.Product != ProductInstanceConfidential || FormatCost(c.Total()) != "2000.000000000000000000" {
		t.Errorf("confidential instance: %s %s", c.Product, FormatCost(c.Total()))
	}
	// A GPU instance paid in credit: an RTX 4090 needs 6 standard CUs.
	c = compute(message.TypeInstance, instance(20480, `,"payment":{"type":"credit"},"requirements":{"gpu":[{"device_id":"10de:2684"}]}`))
	hourly(t, "RTX 4090", c.Lines[0].Credit, "258750")
	if c.Lines[0].Name != ProductInstanceGPUStandard {
		t.Errorf("GPU line %+v", c.Lines[0])
	}
	if _, err := Compute(Default, message.TypeInstance, json.RawMessage(instance(20480, `,"requirements":{"gpu":[{"device_id":"1234:5678"}]}`)), -1, fs); message.CodeOf(err) != message.CodeInvalidFormat {
		t.Errorf("unknown GPU: %v", err)
	}
	if n := ComputeUnits(Default[ProductInstance].ComputeUnit, 3, 2048); n != 3 {
		t.Errorf("3 vCPUs: %d CU", n)
	}
	if n := ComputeUnits(Default[ProductInstance].ComputeUnit, 1, 2049); n != 2 {
		t.Errorf("2049 MiB: %d CU", n)
	}
}

func TestTimeline(t *testing.T) {
	tl := NewTimeline([]TimedElement{
		{Time: 200, Content: json.RawMessage(`{"storage":{"price":{"storage":{"holding":"1"}}}}`)},
		{Time: 100, Content: json.RawMessage(`{"instance":{"price":{"compute_unit":{"holding":500}}}}`)},
		{Time: 150, Content: json.RawMessage(`{"instance":{"price":{"compute_unit":{"holding":"-1"}}}}`)}, // malformed: skipped
	})
	if h := tl.Model(99)[ProductInstance].CU.Hold; FormatCost(h) != "1000.000000000000000000" {
		t.Errorf("before: %s", FormatCost(h))
	}
	m := tl.Model(100)
	if FormatCost(m[ProductInstance].CU.Hold) != "500.000000000000000000" || FormatCost(m[ProductInstance].CU.Credit) != "14250.000000000000000000" {
		t.Errorf("at 100: hold %s credit %s (credit backfilled from the defaults)", FormatCost(m[ProductInstance].CU.Hold), FormatCost(m[ProductInstance].CU.Credit))
	}
	m = tl.Model(1e9)
	if FormatCost(m[ProductInstance].CU.Hold) != "500.000000000000000000" || FormatCost(m[ProductStorage].Storage.Hold) != "1.000000000000000000" {
		t.Errorf("latest: instance %s storage %s", FormatCost(m[ProductInstance].CU.Hold), FormatCost(m[ProductStorage].Storage.Hold))
	}
}

func TestValidateAggregate(t *testing.T) {
	if err := ValidateAggregate(json.RawMessage(`{"instance":{"price":{"compute_unit":{"holding":"900","credit":15000}}},"other":1}`)); err != nil {
		t.Errorf("valid aggregate: %v", err)
	}
	for _, bad := range []string{
		`[1]`, `"x"`,
		`{"instance":5}`,
		`{"instance":{"price":{"compute_unit":{"holding":"-1"}}}}`,
		`{"storage":{"price":{"storage":{"holding":"lots"}}}}`,
		`{"program":{"compute_unit":{"vcpus":0,"memory_mib":2048,"disk_mib":2048}}}`,
		`{"program":{"tiers":[{"id":"t","compute_units":0}]}}`,
		`{"program":{"price":{"compute_unit":{"holding":true}}}}`,
	} {
		if err := ValidateAggregate(json.RawMessage(bad)); err == nil {
			t.Errorf("ValidateAggregate(%s) accepted", bad)
		}
	}
}

func TestAdmission(t *testing.T) {
	r := DefaultRules
	prog := &Costs{Payment: PaymentHold, Product: ProductProgram, Lines: []Line{ExecutionLine(Default[ProductProgram], 1)}}
	if err := Admit(prog, Funds{Balance: amount(t, "200")}); err != nil {
		t.Errorf("exactly enough: %v", err)
	}
	err := Admit(prog, Funds{Balance: amount(t, "250"), Held: amount(t, "100")})
	var me *message.Error
	if !errors.As(err, &me) || me.Code != message.CodeBalanceInsufficient {
		t.Fatalf("short of 50: %v", err)
	}
	d, _ := json.Marshal(me.Details)
	if string(d) != `{"account_balance":250.0,"required_balance":300.0}` {
		t.Errorf("details %s", d)
	}
	credit := &Costs{Payment: PaymentCredit, Product: ProductInstance, Lines: []Line{ExecutionLine(Default[ProductInstance], 1)}}
	day := new(big.Int).Mul(credit.Total(), big.NewInt(CreditRunway))
	if err := Admit(credit, Funds{Credits: day}); err != nil {
		t.Errorf("one day of credits: %v", err)
	}
	if err := Admit(credit, Funds{Credits: new(big.Int).Sub(day, big.NewInt(1))}); message.CodeOf(err) != message.CodeCreditInsufficient {
		t.Errorf("a unit short of a day: %v", err)
	}
	if err := Admit(&Costs{Payment: PaymentSuperfluid, Product: ProductInstance, Lines: credit.Lines}, Funds{}); err != nil {
		t.Errorf("superfluid: %v", err)
	}
	// Cut-offs.
	inst := &Costs{Payment: PaymentHold, Product: ProductInstance}
	if err := r.CheckPayment(inst, DefaultHoldCutoff-1); err != nil {
		t.Errorf("hold instance before the cut-off: %v", err)
	}
	if err := r.CheckPayment(inst, DefaultHoldCutoff); message.CodeOf(err) != message.CodeInvalidPaymentMethod {
		t.Errorf("hold instance after the cut-off: %v", err)
	}
	if err := r.CheckPayment(prog, DefaultHoldCutoff+1); err != nil {
		t.Errorf("hold program after the hold cut-off: %v", err)
	}
	if err := r.CheckPayment(prog, DefaultCreditOnlyCutoff); message.CodeOf(err) != message.CodeInvalidPaymentMethod {
		t.Errorf("hold program after the credit-only cut-off: %v", err)
	}
	small := storeCosts(t, PaymentHold, FreeStoreBytes)
	if r.ApplyFree(small, message.TypeStore, DefaultCreditOnlyCutoff-1, FreeStoreBytes); !small.Free || small.Total().Sign() != 0 {
		t.Errorf("25 MiB STORE not free")
	}
	big := storeCosts(t, PaymentHold, FreeStoreBytes+1)
	if r.ApplyFree(big, message.TypeStore, DefaultCreditOnlyCutoff-1, FreeStoreBytes+1); big.Free {
		t.Errorf("25 MiB + 1 STORE free")
	}
	if r.ApplyFree(big, message.TypeStore, DefaultFreeCutoff-1, FreeStoreBytes+1); !big.Free {
		t.Errorf("STORE before the free cut-off not free")
	}
}
