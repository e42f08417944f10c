-- The totals of each owner's cost rows: the same table as SQLite's 00014,
-- filled from the rows, and decimal_add, the exact sum of two decimal
-- integers held as text, as SQLite's store registers it.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION decimal_add(a text, b text) RETURNS text LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT (a::numeric + b::numeric)::text $$;
-- +goose StatementEnd
CREATE TABLE account_cost_totals (owner_key text PRIMARY KEY, hold text NOT NULL, credit text NOT NULL,
    row_count bigint NOT NULL, hold_rows bigint NOT NULL, last_time double precision NOT NULL,
    first_hold double precision);
INSERT INTO account_cost_totals (owner_key, hold, credit, row_count, hold_rows, last_time, first_hold)
    SELECT lower(owner), coalesce(sum(cost_hold::numeric) FILTER (WHERE payment_type = 'hold'), 0)::text,
        coalesce(sum(cost_credit::numeric) FILTER (WHERE payment_type = 'credit'), 0)::text, count(*),
        count(*) FILTER (WHERE payment_type = 'hold' AND cost_hold::numeric > 0), max(time),
        min(time) FILTER (WHERE payment_type = 'hold' AND cost_hold::numeric > 0)
    FROM account_costs GROUP BY lower(owner);

-- +goose Down
DROP TABLE account_cost_totals;
DROP FUNCTION decimal_add(text, text);
