package postgres

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

type scanner interface{ Scan(...any) error }

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func messageType(s string) message.Type { return message.Type(s) }

// collectStrings reads a one-column result; nil when empty.
func collectStrings(rows pgx.Rows) ([]string, error) {
	defer rows.Close()
	return store.CollectStrings(rows)
}

// conds accumulates the WHERE clause of a list query and its arguments,
// numbered $1, $2, … in the order they are added.
type conds struct {
	sql  []string
	args []any
}

// arg adds an argument and returns its placeholder.
func (c *conds) arg(v any) string {
	c.args = append(c.args, v)
	return "$" + strconv.Itoa(len(c.args))
}

func (c *conds) add(cond string) { c.sql = append(c.sql, cond) }

// in adds "col = $n" or "col = ANY($n)" when vals is not empty.
func (c *conds) in(col string, vals []string) {
	switch len(vals) {
	case 0:
	case 1:
		c.add(col + " = " + c.arg(vals[0]))
	default:
		c.add(col + " = ANY(" + c.arg(vals) + ")")
	}
}

// tags adds the condition that the JSON array at path of the JSON
// expression expr holds any of tags (as strings).
func (c *conds) tags(expr string, path []string, tags []string) {
	e := "((" + expr + ")::jsonb)"
	for _, p := range path {
		e += " -> '" + p + "'"
	}
	c.add("(jsonb_typeof(" + e + ") = 'array' AND (" + e + ") ?| " + c.arg(tags) + "::text[])")
}

func (c *conds) where() string {
	if len(c.sql) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c.sql, " AND ")
}

// clone returns a copy that can be extended without touching c.
func (c *conds) clone() *conds {
	return &conds{sql: append([]string(nil), c.sql...), args: append([]any(nil), c.args...)}
}
