-- Credits: the ledger of the credit posts (one row per entry of a
-- distribution, expense or transfer), positioned by the post's time, so
-- that the credit balance of an address at a position is a fold of its rows
-- up to it. Amounts are decimal integers of base units (10^-18 credit), as
-- text; expiration is unix milliseconds, 0 for none.

-- +goose Up
CREATE TABLE credit_entries (
    ref        TEXT NOT NULL,
    idx        INTEGER NOT NULL,
    address    TEXT NOT NULL,
    time       REAL NOT NULL,
    kind       TEXT NOT NULL,
    amount     TEXT NOT NULL,
    expiration INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ref, idx)
);
CREATE INDEX credit_entries_address_ci ON credit_entries (lower(address), time);
CREATE INDEX credit_entries_address ON credit_entries (address);

-- +goose Down
DROP TABLE credit_entries;
