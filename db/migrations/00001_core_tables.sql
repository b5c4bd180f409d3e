-- +goose Up
-- The reputation service's live tables, as DESIGN.md gives them. Times are
-- UTC text in SQLite's datetime() form so the operations guide's queries work.
CREATE TABLE appeals (
    id          INTEGER PRIMARY KEY,
    user_id     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending','negotiating','approved','denied','expired')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    resolved_at TEXT
);

CREATE TABLE appeal_negotiation_messages (
    id         INTEGER PRIMARY KEY,
    appeal_id  INTEGER NOT NULL REFERENCES appeals(id),
    sender     TEXT NOT NULL CHECK (sender IN ('user','reviewer','system')),
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE ml_predictions (
    id              INTEGER PRIMARY KEY,
    user_id         TEXT NOT NULL,
    appeal_id       INTEGER,
    prediction_type TEXT NOT NULL,
    confidence      REAL NOT NULL,
    latency_ms      REAL NOT NULL,
    model_version   TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

-- +goose Down
DROP TABLE ml_predictions;
DROP TABLE appeal_negotiation_messages;
DROP TABLE appeals;
