-- The instances of a deployment (issue 20): each one notes that it is alive at every health
-- check, so that every instance can say which others are running and which were lost (no word
-- for longer than a few checks). A clean shutdown says so.
CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    stopped_at  TEXT
);

-- What the instance elected for a job (the rates sampler) shares with the others and hands to
-- its successor: one JSON document per job.
CREATE TABLE shared_state (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
