-- The instances of a deployment and what an elected instance shares (issue 20): see the SQLite
-- migration of the same version.
CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    stopped_at  TEXT
);

-- What the instance elected for a job (the rates sampler) shares with the others and hands to
-- its successor: one JSON document per job.
CREATE TABLE shared_state (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
