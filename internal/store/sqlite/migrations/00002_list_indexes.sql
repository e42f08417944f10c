-- Indexes for the API's aggregate listings: each order of ListAggregates
-- (last modification or creation time, then key and owner) is read from an
-- index, and the key filter (e.g. every "security" aggregate) too.

-- +goose Up
DROP INDEX aggregates_modified;
CREATE INDEX aggregates_modified ON aggregates (last_revision_time, key, owner);
CREATE INDEX aggregates_created ON aggregates (creation_time, key, owner);
CREATE INDEX aggregates_key ON aggregates (key, last_revision_time);

-- +goose Down
DROP INDEX aggregates_key;
DROP INDEX aggregates_created;
DROP INDEX aggregates_modified;
CREATE INDEX aggregates_modified ON aggregates (last_revision_time);
