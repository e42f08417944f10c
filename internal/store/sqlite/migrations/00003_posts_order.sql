-- Indexes for ListPosts: amends by content time (amended posts are ordered
-- by their latest amend's time), and originals by channel and by type with
-- their time, for the filters of posts.json and their totals.

-- +goose Up
CREATE INDEX posts_amends_time ON posts (creation_time, item_hash) WHERE amends IS NOT NULL;
CREATE INDEX posts_channel ON posts (channel, creation_time) WHERE amends IS NULL;
CREATE INDEX posts_type ON posts (type, creation_time) WHERE amends IS NULL;

-- +goose Down
DROP INDEX posts_type;
DROP INDEX posts_channel;
DROP INDEX posts_amends_time;
