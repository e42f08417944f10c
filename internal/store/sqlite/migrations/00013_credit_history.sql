-- Credits: what the reference's credit_history keeps of each entry besides
-- amount and expiry, so the ledger can serve the history: origin (a
-- distribution's origin, an expense's execution_id, a transfer's sender),
-- origin_ref (the entry's ref), the distribution's price, bonus_amount,
-- tx_hash (an expense's node_id), token, chain and provider, the payment
-- method, and an expense's count and size in MiB. Empty text is "none".
-- An expense pays for its effective origin (origin, else origin_ref): the
-- index serves the credits a message consumed.

-- +goose Up
ALTER TABLE credit_entries ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE credit_entries ADD COLUMN origin_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE credit_entries ADD COLUMN price TEXT NOT NULL DEFAULT '';
ALTER TABLE credit_entries ADD COLUMN bonus_amount TEXT NOT NULL DEFAULT '';
ALTER TABLE credit_entries ADD COLUMN tx_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE credit_entries ADD COLUMN token TEXT NOT NULL DEFAULT '';
ALTER TABLE credit_entries ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE credit_entries ADD COLUMN provider TEXT NOT NULL DEFAULT '';
ALTER TABLE credit_entries ADD COLUMN payment_method TEXT NOT NULL DEFAULT '';
ALTER TABLE credit_entries ADD COLUMN expense_count TEXT NOT NULL DEFAULT '';
ALTER TABLE credit_entries ADD COLUMN expense_size_mib TEXT NOT NULL DEFAULT '';
CREATE INDEX credit_entries_resource ON credit_entries ((coalesce(nullif(origin, ''), origin_ref))) WHERE kind = 'expense';

-- +goose Down
DROP INDEX credit_entries_resource;
ALTER TABLE credit_entries DROP COLUMN expense_size_mib;
ALTER TABLE credit_entries DROP COLUMN expense_count;
ALTER TABLE credit_entries DROP COLUMN payment_method;
ALTER TABLE credit_entries DROP COLUMN provider;
ALTER TABLE credit_entries DROP COLUMN chain;
ALTER TABLE credit_entries DROP COLUMN token;
ALTER TABLE credit_entries DROP COLUMN tx_hash;
ALTER TABLE credit_entries DROP COLUMN bonus_amount;
ALTER TABLE credit_entries DROP COLUMN price;
ALTER TABLE credit_entries DROP COLUMN origin_ref;
ALTER TABLE credit_entries DROP COLUMN origin;
