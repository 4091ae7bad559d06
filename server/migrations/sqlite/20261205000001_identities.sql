-- Who each user id signed in through the identity provider is there: the first sign-in binds the
-- name (the configured user claim's value) to the provider's subject (`sub`), and a sign-in with
-- the same name and another subject is refused, so that a renamed account cannot become someone
-- else.
CREATE TABLE identities (
    user_id  TEXT PRIMARY KEY,
    subject  TEXT NOT NULL,
    bound_at TEXT NOT NULL
);
