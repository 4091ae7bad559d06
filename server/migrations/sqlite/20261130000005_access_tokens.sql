-- Personal access tokens (issue 19): for the CLI and scripts in `oidc` mode. Only a hash of
-- each token is kept; the token itself is shown once, at creation.
CREATE TABLE access_tokens (
    token_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    -- Seconds since the epoch; NULL: no expiry.
    expires_at   INTEGER,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX access_tokens_user ON access_tokens (user_id, token_id);
