-- The schema of the SQLite backend translated to PostgreSQL: the same
-- tables and (partial) indexes, times as double precision, content JSON as
-- jsonb. Text columns use the "C" collation so that every order (hashes,
-- keys, owners, channels) is bytewise, as in SQLite, whatever the locale of
-- the database.

-- +goose Up
CREATE TABLE pending_messages (
    id             bigserial PRIMARY KEY,
    item_hash      text COLLATE "C" NOT NULL,
    sender         text COLLATE "C" NOT NULL,
    signature      text COLLATE "C" NOT NULL,
    message        text NOT NULL, -- envelope JSON, as received
    reception_time double precision NOT NULL,
    retries        integer NOT NULL DEFAULT 0,
    next_attempt   double precision NOT NULL,
    origin         text NOT NULL DEFAULT '',
    UNIQUE (item_hash, sender, signature)
);

CREATE TABLE messages (
    item_hash         text COLLATE "C" PRIMARY KEY,
    type              text COLLATE "C" NOT NULL,
    chain             text COLLATE "C" NOT NULL,
    sender            text COLLATE "C" NOT NULL,
    signature         text COLLATE "C" NOT NULL,
    item_type         text COLLATE "C" NOT NULL,
    item_content      text,          -- the exact signed text of inline items
    content           jsonb,         -- NULL for inline items: the content is item_content
    time              double precision NOT NULL,
    channel           text COLLATE "C",
    size              bigint NOT NULL,
    status            text COLLATE "C" NOT NULL,
    reception_time    double precision NOT NULL,
    owner             text COLLATE "C" NOT NULL,
    content_type      text COLLATE "C",
    content_ref       text COLLATE "C",
    content_key       text COLLATE "C",
    content_item_hash text COLLATE "C",
    payment_type      text COLLATE "C"
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
    name  text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('messages', 0);

CREATE TABLE rejected_messages (
    item_hash      text COLLATE "C" PRIMARY KEY,
    message        text NOT NULL, -- the envelope as received
    error_code     integer NOT NULL,
    details        jsonb,
    reception_time double precision NOT NULL
);

CREATE TABLE forgotten_messages (
    item_hash      text COLLATE "C" PRIMARY KEY,
    type           text COLLATE "C" NOT NULL,
    chain          text COLLATE "C" NOT NULL,
    sender         text COLLATE "C" NOT NULL,
    signature      text COLLATE "C" NOT NULL,
    item_type      text COLLATE "C" NOT NULL,
    time           double precision NOT NULL,
    channel        text COLLATE "C",
    owner          text COLLATE "C" NOT NULL,
    payment_type   text COLLATE "C",
    size           bigint NOT NULL,
    forgotten_at   double precision NOT NULL,
    forgotten_by   jsonb NOT NULL, -- array of FORGET hashes
    reception_time double precision NOT NULL
);
CREATE INDEX forgotten_time ON forgotten_messages (time, item_hash);

CREATE TABLE posts (
    item_hash     text COLLATE "C" PRIMARY KEY,
    owner         text COLLATE "C" NOT NULL,
    type          text COLLATE "C" NOT NULL,
    ref           text COLLATE "C",
    amends        text COLLATE "C",
    channel       text COLLATE "C",
    content       jsonb,
    creation_time double precision NOT NULL,
    latest_amend  text COLLATE "C"
);
CREATE INDEX posts_originals ON posts (creation_time, item_hash) WHERE amends IS NULL;
CREATE INDEX posts_amends ON posts (amends) WHERE amends IS NOT NULL;
CREATE INDEX posts_owner ON posts (owner, creation_time);
CREATE INDEX posts_ref ON posts (ref) WHERE ref IS NOT NULL;
CREATE INDEX posts_amends_time ON posts (creation_time, item_hash) WHERE amends IS NOT NULL;
CREATE INDEX posts_channel ON posts (channel, creation_time) WHERE amends IS NULL;
CREATE INDEX posts_type ON posts (type, creation_time) WHERE amends IS NULL;

CREATE TABLE aggregate_elements (
    item_hash     text COLLATE "C" PRIMARY KEY,
    owner         text COLLATE "C" NOT NULL,
    key           text COLLATE "C" NOT NULL,
    content       jsonb NOT NULL,
    creation_time double precision NOT NULL
);
CREATE INDEX aggregate_elements_key ON aggregate_elements (owner, key, creation_time);

CREATE TABLE aggregates (
    owner              text COLLATE "C" NOT NULL,
    key                text COLLATE "C" NOT NULL,
    content            jsonb NOT NULL,
    creation_time      double precision NOT NULL,
    last_revision_hash text COLLATE "C" NOT NULL,
    last_revision_time double precision NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE INDEX aggregates_modified ON aggregates (last_revision_time, key, owner);
CREATE INDEX aggregates_created ON aggregates (creation_time, key, owner);
CREATE INDEX aggregates_key ON aggregates (key, last_revision_time);

CREATE TABLE files (
    hash text COLLATE "C" PRIMARY KEY,
    size bigint NOT NULL,
    type text NOT NULL
);

CREATE TABLE file_pins (
    id        bigserial PRIMARY KEY,
    file_hash text COLLATE "C" NOT NULL,
    type      text COLLATE "C" NOT NULL,
    owner     text COLLATE "C",
    item_hash text COLLATE "C",
    ref       text COLLATE "C",
    created   double precision NOT NULL,
    delete_by double precision
);
CREATE INDEX file_pins_file ON file_pins (file_hash);
CREATE INDEX file_pins_item ON file_pins (item_hash) WHERE item_hash IS NOT NULL;
CREATE INDEX file_pins_ref ON file_pins (ref) WHERE ref IS NOT NULL;
CREATE INDEX file_pins_grace ON file_pins (delete_by) WHERE delete_by IS NOT NULL;
CREATE INDEX file_pins_owner ON file_pins (owner, created) WHERE type = 'message';

CREATE TABLE file_tags (
    tag          text COLLATE "C" PRIMARY KEY,
    owner        text COLLATE "C" NOT NULL,
    file_hash    text COLLATE "C" NOT NULL,
    last_updated double precision NOT NULL
);

CREATE TABLE vms (
    item_hash    text COLLATE "C" PRIMARY KEY,
    owner        text COLLATE "C" NOT NULL,
    type         text COLLATE "C" NOT NULL,
    allow_amend  boolean NOT NULL,
    replaces     text COLLATE "C",
    payment_type text COLLATE "C"
);
CREATE TABLE vm_volumes (
    id      bigserial PRIMARY KEY,
    vm_hash text COLLATE "C" NOT NULL,
    ref     text COLLATE "C" NOT NULL
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
