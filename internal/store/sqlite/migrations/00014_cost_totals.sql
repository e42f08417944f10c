-- The totals of each owner's cost rows (account_costs), kept by the writes
-- of cost rows so that admission does not add up an owner's rows for every
-- message: a row exists for an owner exactly when it has cost rows.
-- Amounts are decimal integers in base units, as text, added exactly with
-- decimal_add (a function the store registers with the driver).

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
INSERT INTO account_cost_totals (owner_key, hold, credit, row_count, hold_rows, last_time, first_hold)
    SELECT lower(owner), CASE WHEN payment_type = 'hold' THEN cost_hold ELSE '0' END,
        CASE WHEN payment_type = 'credit' THEN cost_credit ELSE '0' END, 1,
        CASE WHEN payment_type = 'hold' AND cost_hold <> '0' AND substr(cost_hold, 1, 1) <> '-' THEN 1 ELSE 0 END, time,
        CASE WHEN payment_type = 'hold' AND cost_hold <> '0' AND substr(cost_hold, 1, 1) <> '-' THEN time END
    FROM account_costs WHERE true
    ON CONFLICT (owner_key) DO UPDATE SET
        hold = decimal_add(account_cost_totals.hold, excluded.hold),
        credit = decimal_add(account_cost_totals.credit, excluded.credit),
        row_count = account_cost_totals.row_count + 1,
        hold_rows = account_cost_totals.hold_rows + excluded.hold_rows,
        last_time = CASE WHEN excluded.last_time > account_cost_totals.last_time THEN excluded.last_time
            ELSE account_cost_totals.last_time END,
        first_hold = CASE WHEN excluded.first_hold IS NULL THEN account_cost_totals.first_hold
            WHEN account_cost_totals.first_hold IS NULL OR excluded.first_hold < account_cost_totals.first_hold THEN excluded.first_hold
            ELSE account_cost_totals.first_hold END;

-- +goose Down
DROP TABLE account_cost_totals;
