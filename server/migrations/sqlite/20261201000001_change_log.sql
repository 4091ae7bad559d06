-- The change log (issue 20): every metadata change other StreamHub instances must act on — a
-- subscription added or removed, a topic requested or moved in its lifecycle, a session signed
-- out, a token revoked — appended in the transaction of the change itself. Each instance reads it
-- in id order from where it stopped. Rows older than a day are forgotten.
CREATE TABLE change_log (
    change_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    topic_name TEXT,
    user_id    TEXT,
    -- A session id or a token id, for revocations.
    subject    TEXT,
    -- Seconds since the epoch: when a revoked session would have expired anyway.
    expires    INTEGER
);
CREATE INDEX change_log_at ON change_log (at);
