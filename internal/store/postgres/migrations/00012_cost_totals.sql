-- The totals of each owner's cost rows: the same table as SQLite's 00014.

-- +goose Up
CREATE TABLE account_cost_totals (owner_key text PRIMARY KEY, hold text NOT NULL, credit text NOT NULL,
    row_count bigint NOT NULL, hold_rows bigint NOT NULL, last_time double precision NOT NULL,
    first_hold double precision);

-- +goose Down
DROP TABLE account_cost_totals;
