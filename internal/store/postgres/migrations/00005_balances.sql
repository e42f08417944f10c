-- Token balances (balances-update posts and the ERC-20 follower) and the
-- follower's position; the same tables as SQLite's 00007. Amounts are
-- decimal integers of base units, as text: exact, whatever their size.

-- +goose Up
CREATE TABLE balances (address text NOT NULL, chain text NOT NULL, dapp text NOT NULL DEFAULT '',
    balance text NOT NULL, height bigint NOT NULL, PRIMARY KEY (address, chain, dapp));
CREATE INDEX balances_address_ci ON balances (lower(address));
CREATE TABLE token_sync (chain text NOT NULL, token text NOT NULL, height bigint NOT NULL,
    block_hash text NOT NULL, PRIMARY KEY (chain, token));

-- +goose Down
DROP TABLE token_sync;
DROP TABLE balances;
