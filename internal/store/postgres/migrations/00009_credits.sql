-- Credits: the same table as SQLite's 00011 (the ledger of the credit
-- posts, by post time). Amounts are decimal integers of base units, as
-- text; expiration is unix milliseconds, 0 for none.

-- +goose Up
CREATE TABLE credit_entries (ref text NOT NULL, idx integer NOT NULL, address text NOT NULL,
    time double precision NOT NULL, kind text NOT NULL, amount text NOT NULL, expiration bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (ref, idx));
CREATE INDEX credit_entries_address_ci ON credit_entries (lower(address), time);
CREATE INDEX credit_entries_address ON credit_entries (address);

-- +goose Down
DROP TABLE credit_entries;
