-- Index for AddressFiles: an address's STORE pins by time.

-- +goose Up
CREATE INDEX file_pins_owner ON file_pins (owner, created) WHERE type = 'message';

-- +goose Down
DROP INDEX file_pins_owner;
