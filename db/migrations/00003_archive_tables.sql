-- +goose Up
-- Archive tables for the guide's data archival: the live tables' columns plus
-- archived_at. The primary key is kept so that a resumed archival run can
-- copy idempotently (INSERT OR IGNORE) and verify by id.
CREATE TABLE appeals_archive (
    id          INTEGER PRIMARY KEY,
    user_id     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    resolved_at TEXT,
    archived_at TEXT NOT NULL
);

CREATE TABLE appeal_negotiation_messages_archive (
    id          INTEGER PRIMARY KEY,
    appeal_id   INTEGER NOT NULL,
    sender      TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    archived_at TEXT NOT NULL
);

CREATE INDEX idx_messages_archive_appeal ON appeal_negotiation_messages_archive(appeal_id);

-- +goose Down
DROP INDEX idx_messages_archive_appeal;
DROP TABLE appeal_negotiation_messages_archive;
DROP TABLE appeals_archive;
