-- Archives of aleph-offchain events that could not be fetched yet: the
-- chain reader fetches them again after a back-off, and reads them back on
-- a restart (its sync height is already past their events).

-- +goose Up
CREATE TABLE archive_retries (
    chain     TEXT NOT NULL,
    tx_hash   TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    height    INTEGER NOT NULL,
    cid       TEXT NOT NULL,
    event     TEXT NOT NULL,
    attempts  INTEGER NOT NULL,
    PRIMARY KEY (chain, tx_hash, log_index)
);

-- +goose Down
DROP TABLE archive_retries;
