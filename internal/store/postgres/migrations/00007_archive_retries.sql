-- Archives of aleph-offchain events that could not be fetched yet: the
-- chain reader fetches them again after a back-off, and reads them back on
-- a restart (its sync height is already past their events).

-- +goose Up
CREATE TABLE archive_retries (
    chain     text COLLATE "C" NOT NULL,
    tx_hash   text COLLATE "C" NOT NULL,
    log_index bigint NOT NULL,
    height    bigint NOT NULL,
    cid       text NOT NULL,
    event     text NOT NULL,
    attempts  bigint NOT NULL,
    PRIMARY KEY (chain, tx_hash, log_index)
);

-- +goose Down
DROP TABLE archive_retries;
