-- Collection of what is not paid for: the same table as SQLite's 00012.

-- +goose Up
CREATE TABLE collection (item_hash text PRIMARY KEY, owner text NOT NULL, reason text NOT NULL,
    since double precision NOT NULL, removed_at double precision);
CREATE INDEX collection_owner_ci ON collection (lower(owner));

-- +goose Down
DROP TABLE collection;
