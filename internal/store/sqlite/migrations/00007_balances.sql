-- Token balances (balances-update posts and the ERC-20 follower) and the
-- follower's position. Amounts are decimal integers in base units, as text:
-- exact, whatever their size.

-- +goose Up
CREATE TABLE balances (
    address TEXT NOT NULL,
    chain   TEXT NOT NULL,
    dapp    TEXT NOT NULL DEFAULT '',
    balance TEXT NOT NULL,
    height  INTEGER NOT NULL,
    PRIMARY KEY (address, chain, dapp)
);
CREATE INDEX balances_address_ci ON balances (lower(address));
CREATE TABLE token_sync (
    chain      TEXT NOT NULL,
    token      TEXT NOT NULL,
    height     INTEGER NOT NULL,
    block_hash TEXT NOT NULL,
    PRIMARY KEY (chain, token)
);

-- +goose Down
DROP TABLE token_sync;
DROP TABLE balances;
