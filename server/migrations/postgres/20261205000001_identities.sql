-- Who each user id signed in through the identity provider is there: see the SQLite migration of
-- the same version.
CREATE TABLE identities (
    user_id  TEXT COLLATE "C" PRIMARY KEY,
    subject  TEXT NOT NULL,
    bound_at TEXT NOT NULL
);
