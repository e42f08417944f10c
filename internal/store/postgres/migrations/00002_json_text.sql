-- Content columns keep the JSON text as the node received or built it.
-- jsonb rewrites it (keys reordered, spaces added, 1.5e-7 written as
-- 0.00000015), so a node on PostgreSQL would answer the API with other
-- bytes than the same node on SQLite, or than the message its sender
-- signed. json is still checked as JSON on the way in; the rare queries
-- into the content (tag filters) cast it to jsonb. See
-- docs/design/0003-postgres-backend.md.

-- +goose Up
ALTER TABLE messages ALTER COLUMN content TYPE json USING content::json;
ALTER TABLE rejected_messages ALTER COLUMN details TYPE json USING details::json;
ALTER TABLE forgotten_messages ALTER COLUMN forgotten_by TYPE json USING forgotten_by::json;
ALTER TABLE posts ALTER COLUMN content TYPE json USING content::json;
ALTER TABLE aggregate_elements ALTER COLUMN content TYPE json USING content::json;
ALTER TABLE aggregates ALTER COLUMN content TYPE json USING content::json;

-- +goose Down
ALTER TABLE messages ALTER COLUMN content TYPE jsonb USING content::jsonb;
ALTER TABLE rejected_messages ALTER COLUMN details TYPE jsonb USING details::jsonb;
ALTER TABLE forgotten_messages ALTER COLUMN forgotten_by TYPE jsonb USING forgotten_by::jsonb;
ALTER TABLE posts ALTER COLUMN content TYPE jsonb USING content::jsonb;
ALTER TABLE aggregate_elements ALTER COLUMN content TYPE jsonb USING content::jsonb;
ALTER TABLE aggregates ALTER COLUMN content TYPE jsonb USING content::jsonb;
