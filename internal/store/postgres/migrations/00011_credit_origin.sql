-- Credits: the same column as SQLite's 00013 (the resource an expense pays
-- for: its execution_id, else its ref; empty for none).

-- +goose Up
ALTER TABLE credit_entries ADD COLUMN origin text NOT NULL DEFAULT '';
CREATE INDEX credit_entries_origin ON credit_entries (origin) WHERE origin <> '';

-- +goose Down
DROP INDEX credit_entries_origin;
ALTER TABLE credit_entries DROP COLUMN origin;
