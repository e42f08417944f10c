-- Economy: the same tables as SQLite's 00009 (balance history by update
-- time, and the cost of each admitted message). Amounts are decimal
-- integers of base units, as text.

-- +goose Up
CREATE TABLE balance_history (address text NOT NULL, chain text NOT NULL, dapp text NOT NULL DEFAULT '',
    height bigint NOT NULL, time double precision NOT NULL, balance text NOT NULL,
    PRIMARY KEY (address, chain, dapp, height, time));
CREATE INDEX balance_history_address_ci ON balance_history (lower(address), time);
INSERT INTO balance_history (address, chain, dapp, height, time, balance)
    SELECT address, chain, dapp, height, 0, balance FROM balances;
CREATE TABLE account_costs (item_hash text PRIMARY KEY, owner text NOT NULL, time double precision NOT NULL,
    payment_type text NOT NULL, cost_hold text NOT NULL, cost_stream text NOT NULL, cost_credit text NOT NULL);
CREATE INDEX account_costs_owner_ci ON account_costs (lower(owner), time);

-- +goose Down
DROP TABLE account_costs;
DROP TABLE balance_history;
