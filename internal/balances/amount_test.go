package balances

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/message"
)

func TestParseAmount(t *testing.T) {
	parsed := map[string]string{ // text → base units
		"0":                     "0",
		"12":                    "12000000000000000000",
		"-0.5":                  "-500000000000000000",
		"1.25e-05":              "12500000000000",
		"1E3":                   "1000000000000000000000",
		"0.000000000000000001":  "1",
		"0.0000000000000000019": "1", // the 19th decimal is dropped
		"1e-19":                 "0",
		"123456789012345678901234567890.123456789012345678": "123456789012345678901234567890123456789012345678",
	}
	for in, want := range parsed {
		if got, err := ParseAmount(in); err != nil || got.String() != want {
			t.Errorf("ParseAmount(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-", ".5", "1.", "1e", "1e999", "1e43", "0x10", "1,5", "NaN", "Infinity", " 1", "1e+2.5", strings.Repeat("9", 101)} {
		if v, err := ParseAmount(bad); !errors.Is(err, ErrBadAmount) {
			t.Errorf("ParseAmount(%q) = %v, %v; want ErrBadAmount", bad, v, err)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	units := []int64{0, 1, -500000000000000000, 7000000000000000000}
	var got []string
	for _, u := range units {
		got = append(got, FormatAmount(big.NewInt(u)))
	}
	big1500, _ := new(big.Int).SetString("1500250000000000000000", 10)
	got = append(got, FormatAmount(big1500), FormatAmount(nil))
	if want := "0.0 0.000000000000000001 -0.5 7.0 1500.25 0.0"; strings.Join(got, " ") != want {
		t.Errorf("formatted %q, want %q", strings.Join(got, " "), want)
	}
	// What FormatAmount writes, ParseAmount reads back exactly.
	for i, text := range got[:len(units)] {
		if back, err := ParseAmount(text); err != nil || back.Int64() != units[i] {
			t.Errorf("ParseAmount(%q) = %v, %v; want %d", text, back, err, units[i])
		}
	}
}

// FuzzParseAmount: any text either fails cleanly or round-trips through
// FormatAmount.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0", "1.5", "-2e-3", "1e80", "0.000000000000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseAmount(s)
		if err != nil {
			return
		}
		back, err := ParseAmount(FormatAmount(v))
		if err != nil || back.Cmp(v) != 0 {
			t.Fatalf("%q → %s → %q → %v, %v", s, v, FormatAmount(v), back, err)
		}
	})
}

func TestParseUpdate(t *testing.T) {
	u, err := ParseUpdate(json.RawMessage(`{"chain":"ETH","main_height":19000000,"platform":"ALEPH_ETH","token_symbol":"ALEPH",
		"balances":{"0xb":1.5,"0xa":"250000.000000000000000001","0xc":1e-05}}`))
	if err != nil {
		t.Fatal(err)
	}
	if u.Chain != "ETH" || u.Height != 19000000 || u.Dapp != "" || len(u.Balances) != 3 {
		t.Fatalf("update = %+v", u)
	}
	want := []string{"0xa=250000000000000000000001", "0xb=1500000000000000000", "0xc=10000000000000"}
	for i, b := range u.Balances {
		if got := b.Address + "=" + b.Amount.String(); got != want[i] || b.Chain != "ETH" || b.Height != 19000000 {
			t.Errorf("balance %d = %s %+v, want %s", i, got, b, want[i])
		}
	}
	u, err = ParseUpdate(json.RawMessage(`{"chain":"ETH","main_height":5,"dapp":"SABLIER","balances":{}}`))
	if err != nil || u.Dapp != "SABLIER" || len(u.Balances) != 0 {
		t.Fatalf("dapp update = %+v, %v", u, err)
	}
	for _, bad := range []string{
		`{"main_height":1,"balances":{}}`,
		`{"chain":"ETH","balances":{}}`,
		`{"chain":"ETH","main_height":-1,"balances":{}}`,
		`{"chain":"ETH","main_height":1.5,"balances":{}}`,
		`{"chain":"","main_height":1,"balances":{}}`,
		`{"chain":"ETH","main_height":1}`,
		`{"chain":"ETH","main_height":1,"balances":{"0xa":"lots"}}`,
		`{"chain":"ETH","main_height":1,"balances":{"0xa":true}}`,
		`{"chain":"ETH","main_height":1,"balances":{"":1}}`,
		`{"chain":7,"main_height":1,"balances":{}}`,
		`[1,2]`,
	} {
		_, err := ParseUpdate(json.RawMessage(bad))
		var me *message.Error
		if !errors.As(err, &me) || me.Code != message.CodeInvalidFormat {
			t.Errorf("ParseUpdate(%s) = %v, want a code %d error", bad, err, message.CodeInvalidFormat)
		}
	}
}
