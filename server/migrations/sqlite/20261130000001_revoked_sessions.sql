-- Dashboard sessions signed out before their expiry (issue 18): kept so that a signed-out
-- cookie stays refused after a restart. Rows past `expires` (seconds since the Unix epoch)
-- are forgotten.
CREATE TABLE revoked_sessions (
    session_id TEXT PRIMARY KEY NOT NULL,
    expires    INTEGER NOT NULL
);
