-- A team's request to own a topic nobody owns (one from before ownership, an adopted one):
-- waiting for an admin, who gives the topic to one of the teams asking or turns a request down.
CREATE TABLE topic_claims (
    topic_id     INTEGER NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    team         TEXT    NOT NULL,
    requested_by TEXT    NOT NULL,
    requested_at TEXT    NOT NULL,
    PRIMARY KEY (topic_id, team)
);
