-- Credits: the resource an expense pays for (the reference's effective
-- origin: the entry's execution_id, else its ref), so the credits a message
-- consumed can be summed; empty for grants and for expenses naming none.

-- +goose Up
ALTER TABLE credit_entries ADD COLUMN origin TEXT NOT NULL DEFAULT '';
CREATE INDEX credit_entries_origin ON credit_entries (origin) WHERE origin <> '';

-- +goose Down
DROP INDEX credit_entries_origin;
ALTER TABLE credit_entries DROP COLUMN origin;
