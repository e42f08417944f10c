-- The packer's batches: each anchors the messages it lists with one chain
-- transaction pointing at their archive file. A message is in one batch at
-- most (the primary key of packer_batch_items).

-- +goose Up
CREATE TABLE packer_batches (
    id       bigserial PRIMARY KEY,
    chain    text NOT NULL,
    archive  text NOT NULL,
    count    bigint NOT NULL,
    state    text NOT NULL,
    tx_hash  text NOT NULL DEFAULT '',
    nonce    bigint NOT NULL DEFAULT 0,
    raw_tx   text NOT NULL DEFAULT '',
    height   bigint NOT NULL DEFAULT 0,
    gas_used bigint NOT NULL DEFAULT 0,
    created  double precision NOT NULL,
    updated  double precision NOT NULL
);
CREATE INDEX packer_batches_open ON packer_batches (chain, id) WHERE state <> 'confirmed';

CREATE TABLE packer_batch_items (
    item_hash text COLLATE "C" PRIMARY KEY,
    batch_id  bigint NOT NULL
);
CREATE INDEX packer_batch_items_batch ON packer_batch_items (batch_id);

-- The packer takes the oldest receptions first.
CREATE INDEX messages_reception ON messages (reception_time, item_hash);

-- +goose Down
DROP INDEX messages_reception;
DROP TABLE packer_batch_items;
DROP TABLE packer_batches;
