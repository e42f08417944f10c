package contracts

import (
	"encoding/json"
	"strings"
	"testing"
)

type abiEntry struct {
	Type   string `json:"type"`
	Name   string `json:"name"`
	Inputs []struct {
		Type    string `json:"type"`
		Indexed bool   `json:"indexed"`
	} `json:"inputs"`
}

// signatures returns "name(type,...)" for every entry of kind in an ABI.
func signatures(t *testing.T, abiJSON, kind string) map[string]bool {
	t.Helper()
	var entries []abiEntry
	if err := json.Unmarshal([]byte(abiJSON), &entries); err != nil {
		t.Fatalf("abi: %v", err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		if e.Type != kind {
			continue
		}
		types := make([]string, len(e.Inputs))
		for i, in := range e.Inputs {
			types[i] = in.Type
			if kind == "event" && in.Indexed {
				t.Errorf("%s: input %d is indexed; the mainnet contract indexes nothing", e.Name, i)
			}
		}
		out[e.Name+"("+strings.Join(types, ",")+")"] = true
	}
	return out
}

func TestSyncABIMatchesMainnet(t *testing.T) {
	events := signatures(t, SyncABI, "event")
	for _, sig := range []string{SyncEventSig, MessageEventSig} {
		if !events[sig] {
			t.Errorf("event %s missing from AlephSync ABI (have %v)", sig, events)
		}
	}
	funcs := signatures(t, SyncABI, "function")
	for _, sig := range []string{"doEmit(string)", "doMessage(string,string)"} {
		if !funcs[sig] {
			t.Errorf("function %s missing from AlephSync ABI (have %v)", sig, funcs)
		}
	}
}

func TestTokenABIIsERC20(t *testing.T) {
	funcs := signatures(t, TokenABI, "function")
	for _, sig := range []string{
		"transfer(address,uint256)", "transferFrom(address,address,uint256)", "approve(address,uint256)",
		"balanceOf(address)", "allowance(address,address)", "totalSupply()", "decimals()", "symbol()",
		"name()", "mint(address,uint256)",
	} {
		if !funcs[sig] {
			t.Errorf("function %s missing from AlephToken ABI", sig)
		}
	}
}

func TestBytecodeIsHex(t *testing.T) {
	for name, bin := range map[string]string{"AlephSync": SyncBin, "AlephToken": TokenBin} {
		bin = strings.TrimSpace(bin)
		if len(bin) < 100 || len(bin)%2 != 0 || strings.Trim(bin, "0123456789abcdef") != "" {
			t.Errorf("%s: bytecode is not even-length lower-case hex (%d chars)", name, len(bin))
		}
	}
}
