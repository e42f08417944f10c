-- The packer's batches: each anchors the messages it lists with one chain
-- transaction pointing at their archive file. A message is in one batch at
-- most (the primary key of packer_batch_items).

-- +goose Up
CREATE TABLE packer_batches (
    id       INTEGER PRIMARY KEY,
    chain    TEXT NOT NULL,
    archive  TEXT NOT NULL,
    count    INTEGER NOT NULL,
    state    TEXT NOT NULL,
    tx_hash  TEXT NOT NULL DEFAULT '',
    nonce    INTEGER NOT NULL DEFAULT 0,
    raw_tx   TEXT NOT NULL DEFAULT '',
    height   INTEGER NOT NULL DEFAULT 0,
    gas_used INTEGER NOT NULL DEFAULT 0,
    created  REAL NOT NULL,
    updated  REAL NOT NULL
);
CREATE INDEX packer_batches_open ON packer_batches (chain, id) WHERE state <> 'confirmed';

CREATE TABLE packer_batch_items (
    item_hash TEXT PRIMARY KEY,
    batch_id  INTEGER NOT NULL
);
CREATE INDEX packer_batch_items_batch ON packer_batch_items (batch_id);

-- The packer takes the oldest receptions first.
CREATE INDEX messages_reception ON messages (reception_time, item_hash);

-- +goose Down
DROP INDEX messages_reception;
DROP TABLE packer_batch_items;
DROP TABLE packer_batches;
