-- Credits: the same columns as SQLite's 00013 (what the reference's
-- credit_history keeps of each entry; empty text is "none") and the index
-- of an expense's effective origin.

-- +goose Up
ALTER TABLE credit_entries ADD COLUMN origin text NOT NULL DEFAULT '', ADD COLUMN origin_ref text NOT NULL DEFAULT '',
    ADD COLUMN price text NOT NULL DEFAULT '', ADD COLUMN bonus_amount text NOT NULL DEFAULT '',
    ADD COLUMN tx_hash text NOT NULL DEFAULT '', ADD COLUMN token text NOT NULL DEFAULT '',
    ADD COLUMN chain text NOT NULL DEFAULT '', ADD COLUMN provider text NOT NULL DEFAULT '',
    ADD COLUMN payment_method text NOT NULL DEFAULT '', ADD COLUMN expense_count text NOT NULL DEFAULT '',
    ADD COLUMN expense_size_mib text NOT NULL DEFAULT '';
CREATE INDEX credit_entries_resource ON credit_entries ((coalesce(nullif(origin, ''), origin_ref))) WHERE kind = 'expense';

-- +goose Down
DROP INDEX credit_entries_resource;
ALTER TABLE credit_entries DROP COLUMN origin, DROP COLUMN origin_ref, DROP COLUMN price, DROP COLUMN bonus_amount,
    DROP COLUMN tx_hash, DROP COLUMN token, DROP COLUMN chain, DROP COLUMN provider, DROP COLUMN payment_method,
    DROP COLUMN expense_count, DROP COLUMN expense_size_mib;
