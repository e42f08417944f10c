-- +goose Up
CREATE TABLE pending_messages (
    id             INTEGER PRIMARY KEY,
    item_hash      TEXT NOT NULL,
    sender         TEXT NOT NULL,
    signature      TEXT NOT NULL,
    message        TEXT NOT NULL, -- envelope JSON
    reception_time REAL NOT NULL,
    retries        INTEGER NOT NULL DEFAULT 0,
    next_attempt   REAL NOT NULL,
    origin         TEXT NOT NULL DEFAULT '',
    UNIQUE (item_hash, sender, signature)
);

CREATE TABLE messages (
    item_hash         TEXT PRIMARY KEY,
    type              TEXT NOT NULL,
    chain             TEXT NOT NULL,
    sender            TEXT NOT NULL,
    signature         TEXT NOT NULL,
    item_type         TEXT NOT NULL,
    item_content      TEXT,
    content           TEXT,          -- NULL for inline items: the content is item_content
    time              REAL NOT NULL,
    channel           TEXT,
    size              INTEGER NOT NULL,
    status            TEXT NOT NULL,
    reception_time    REAL NOT NULL,
    owner             TEXT NOT NULL,
    content_type      TEXT,
    content_ref       TEXT,
    content_key       TEXT,
    content_item_hash TEXT,
    payment_type      TEXT
);
CREATE INDEX messages_time ON messages (time, item_hash);
CREATE INDEX messages_sender ON messages (sender, time);
CREATE INDEX messages_owner ON messages (owner, time);
CREATE INDEX messages_channel ON messages (channel, time);
CREATE INDEX messages_type ON messages (type, time);
CREATE INDEX messages_content_type ON messages (content_type, time) WHERE content_type IS NOT NULL;
CREATE INDEX messages_content_ref ON messages (content_ref) WHERE content_ref IS NOT NULL;
CREATE INDEX messages_content_key ON messages (content_key) WHERE content_key IS NOT NULL;
CREATE INDEX messages_content_item_hash ON messages (content_item_hash) WHERE content_item_hash IS NOT NULL;

-- One row: the number of rows of messages, kept by the writer.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('messages', 0);

CREATE TABLE rejected_messages (
    item_hash      TEXT PRIMARY KEY,
    message        TEXT NOT NULL,
    error_code     INTEGER NOT NULL,
    details        TEXT,
    reception_time REAL NOT NULL
);

CREATE TABLE forgotten_messages (
    item_hash      TEXT PRIMARY KEY,
    type           TEXT NOT NULL,
    chain          TEXT NOT NULL,
    sender         TEXT NOT NULL,
    signature      TEXT NOT NULL,
    item_type      TEXT NOT NULL,
    time           REAL NOT NULL,
    channel        TEXT,
    owner          TEXT NOT NULL,
    payment_type   TEXT,
    size           INTEGER NOT NULL,
    forgotten_at   REAL NOT NULL,
    forgotten_by   TEXT NOT NULL, -- JSON array of FORGET hashes
    reception_time REAL NOT NULL
);
CREATE INDEX forgotten_time ON forgotten_messages (time, item_hash);

CREATE TABLE posts (
    item_hash     TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    type          TEXT NOT NULL,
    ref           TEXT,
    amends        TEXT,
    channel       TEXT,
    content       TEXT,
    creation_time REAL NOT NULL,
    latest_amend  TEXT
);
CREATE INDEX posts_originals ON posts (creation_time, item_hash) WHERE amends IS NULL;
CREATE INDEX posts_amends ON posts (amends) WHERE amends IS NOT NULL;
CREATE INDEX posts_owner ON posts (owner, creation_time);
CREATE INDEX posts_ref ON posts (ref) WHERE ref IS NOT NULL;

CREATE TABLE aggregate_elements (
    item_hash     TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    key           TEXT NOT NULL,
    content       TEXT NOT NULL,
    creation_time REAL NOT NULL
);
CREATE INDEX aggregate_elements_key ON aggregate_elements (owner, key, creation_time);

CREATE TABLE aggregates (
    owner              TEXT NOT NULL,
    key                TEXT NOT NULL,
    content            TEXT NOT NULL,
    creation_time      REAL NOT NULL,
    last_revision_hash TEXT NOT NULL,
    last_revision_time REAL NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE INDEX aggregates_modified ON aggregates (last_revision_time);

CREATE TABLE files (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    type TEXT NOT NULL
);

CREATE TABLE file_pins (
    id        INTEGER PRIMARY KEY,
    file_hash TEXT NOT NULL,
    type      TEXT NOT NULL,
    owner     TEXT,
    item_hash TEXT,
    ref       TEXT,
    created   REAL NOT NULL,
    delete_by REAL
);
CREATE INDEX file_pins_file ON file_pins (file_hash);
CREATE INDEX file_pins_item ON file_pins (item_hash) WHERE item_hash IS NOT NULL;
CREATE INDEX file_pins_ref ON file_pins (ref) WHERE ref IS NOT NULL;
CREATE INDEX file_pins_grace ON file_pins (delete_by) WHERE delete_by IS NOT NULL;

CREATE TABLE file_tags (
    tag          TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    file_hash    TEXT NOT NULL,
    last_updated REAL NOT NULL
);

CREATE TABLE vms (
    item_hash    TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    type         TEXT NOT NULL,
    allow_amend  INTEGER NOT NULL,
    replaces     TEXT,
    payment_type TEXT
);
CREATE TABLE vm_volumes (
    vm_hash TEXT NOT NULL,
    ref     TEXT NOT NULL
);
CREATE INDEX vm_volumes_ref ON vm_volumes (ref);
CREATE INDEX vm_volumes_vm ON vm_volumes (vm_hash);

-- +goose Down
DROP TABLE vm_volumes;
DROP TABLE vms;
DROP TABLE file_tags;
DROP TABLE file_pins;
DROP TABLE files;
DROP TABLE aggregates;
DROP TABLE aggregate_elements;
DROP TABLE posts;
DROP TABLE forgotten_messages;
DROP TABLE rejected_messages;
DROP TABLE counters;
DROP TABLE messages;
DROP TABLE pending_messages;
