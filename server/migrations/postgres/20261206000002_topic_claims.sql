-- A team's request to own a topic nobody owns: see the SQLite migration of the same version.
CREATE TABLE topic_claims (
    topic_id     BIGINT NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    team         TEXT   NOT NULL,
    requested_by TEXT   NOT NULL,
    requested_at TEXT   NOT NULL,
    PRIMARY KEY (topic_id, team)
);
