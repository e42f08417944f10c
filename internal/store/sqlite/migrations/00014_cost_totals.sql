-- The totals of each owner's cost rows (account_costs), kept by the writes
-- of cost rows so that admission does not add up an owner's rows for every
-- message. A row exists for an owner whose totals are kept: it is written
-- with the owner's first cost row after this migration (from all of its
-- rows) and deleted with its last; an owner without one has its rows added
-- up as before. Amounts are decimal integers in base units, as text.

-- +goose Up
CREATE TABLE account_cost_totals (
    owner_key  TEXT PRIMARY KEY, -- lower(owner): the owner as account_costs_owner_ci matches it
    hold       TEXT NOT NULL,    -- the sum of cost_hold over the hold-paid rows
    credit     TEXT NOT NULL,    -- the sum of cost_credit over the credit-paid rows
    row_count  INTEGER NOT NULL, -- rows of any payment type
    hold_rows  INTEGER NOT NULL, -- hold-paid rows with a positive cost_hold
    last_time  REAL NOT NULL,    -- the greatest time of a row
    first_hold REAL              -- the least time of a hold-paid row with a positive cost_hold
);

-- +goose Down
DROP TABLE account_cost_totals;
