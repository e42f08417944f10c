-- Collection of what is not paid for: one row per message whose owner's
-- balance stopped covering it (status removing, then removed). Positions
-- are log positions (unix seconds of the log clock), not a node's clock.

-- +goose Up
CREATE TABLE collection (
    item_hash  TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    since      REAL NOT NULL,
    removed_at REAL
);
CREATE INDEX collection_owner_ci ON collection (lower(owner));

-- +goose Down
DROP TABLE collection;
