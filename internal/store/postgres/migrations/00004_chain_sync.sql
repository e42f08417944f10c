-- Chain synchronisation: how far each chain reader has read, and the
-- chain transactions that carry each message (its confirmations).

-- +goose Up
CREATE TABLE chains_sync_status (
    chain      text COLLATE "C" PRIMARY KEY,
    height     bigint NOT NULL,
    block_hash text NOT NULL
);

CREATE TABLE message_confirmations (
    item_hash  text COLLATE "C" NOT NULL,
    chain      text COLLATE "C" NOT NULL,
    tx_hash    text COLLATE "C" NOT NULL,
    height     bigint NOT NULL,
    block_hash text NOT NULL,
    time       double precision NOT NULL,
    PRIMARY KEY (item_hash, chain, tx_hash)
);
CREATE INDEX message_confirmations_height ON message_confirmations (chain, height);

-- +goose Down
DROP TABLE message_confirmations;
DROP TABLE chains_sync_status;
