-- Index for PruneRejected: rejected records, oldest first (expiry and the
-- cap on their number).

-- +goose Up
CREATE INDEX rejected_messages_reception ON rejected_messages (reception_time, item_hash);

-- +goose Down
DROP INDEX rejected_messages_reception;
