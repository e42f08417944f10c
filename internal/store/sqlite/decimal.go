package sqlite

import (
	"database/sql/driver"
	"fmt"
	"math/big"

	msqlite "modernc.org/sqlite"
)

// decimal_add(a, b) is the exact sum of two decimal integers held as text
// (amounts in base units): SQLite's own arithmetic would round them to
// 64-bit integers or floats. The kept cost totals (migration 00014,
// internal/store/balancesql) add with it; PostgreSQL defines the same
// function over numeric.
func init() {
	msqlite.MustRegisterDeterministicScalarFunction("decimal_add", 2, decimalAdd)
}

func decimalAdd(_ *msqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	sum := new(big.Int)
	for _, a := range args {
		var s string
		switch v := a.(type) {
		case string:
			s = v
		case []byte:
			s = string(v)
		case int64:
			sum.Add(sum, big.NewInt(v))
			continue
		default:
			return nil, fmt.Errorf("decimal_add: %T is not a decimal integer", a)
		}
		x, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return nil, fmt.Errorf("decimal_add: %q is not a decimal integer", s)
		}
		sum.Add(sum, x)
	}
	return sum.String(), nil
}
