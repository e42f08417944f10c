-- Chain synchronisation: how far each chain reader has read, and the
-- chain transactions that carry each message (its confirmations).

-- +goose Up
CREATE TABLE chains_sync_status (
    chain      TEXT PRIMARY KEY,
    height     INTEGER NOT NULL,
    block_hash TEXT NOT NULL
);

CREATE TABLE message_confirmations (
    item_hash  TEXT NOT NULL,
    chain      TEXT NOT NULL,
    tx_hash    TEXT NOT NULL,
    height     INTEGER NOT NULL,
    block_hash TEXT NOT NULL,
    time       REAL NOT NULL,
    PRIMARY KEY (item_hash, chain, tx_hash)
);
CREATE INDEX message_confirmations_height ON message_confirmations (chain, height);

-- +goose Down
DROP TABLE message_confirmations;
DROP TABLE chains_sync_status;
