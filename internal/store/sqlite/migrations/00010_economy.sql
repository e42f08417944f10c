-- Economy: the history of balances (each balance row as of the time of the
-- update that wrote it, so that a message's admission reads the balance at
-- its position in the log) and the cost of each admitted message. Amounts
-- are decimal integers in base units, as text.

-- +goose Up
CREATE TABLE balance_history (
    address TEXT NOT NULL,
    chain   TEXT NOT NULL,
    dapp    TEXT NOT NULL DEFAULT '',
    height  INTEGER NOT NULL,
    time    REAL NOT NULL,
    balance TEXT NOT NULL,
    PRIMARY KEY (address, chain, dapp, height, time)
);
CREATE INDEX balance_history_address_ci ON balance_history (lower(address), time);
INSERT INTO balance_history (address, chain, dapp, height, time, balance)
    SELECT address, chain, dapp, height, 0, balance FROM balances;
CREATE TABLE account_costs (
    item_hash    TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    time         REAL NOT NULL,
    payment_type TEXT NOT NULL,
    cost_hold    TEXT NOT NULL,
    cost_stream  TEXT NOT NULL,
    cost_credit  TEXT NOT NULL
);
CREATE INDEX account_costs_owner_ci ON account_costs (lower(owner), time);

-- +goose Down
DROP TABLE account_costs;
DROP TABLE balance_history;
