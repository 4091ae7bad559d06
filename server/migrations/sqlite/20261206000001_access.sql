-- Who may read what. A topic is owned by a team (`owner_team`) or, when whoever requested it
-- had no team, by that person (`owner_user`); topics from before ownership have neither, until
-- a team claims one. `access` is its level: `open`, `approval` (the owners approve each
-- subscription) or `private` (also hidden from everyone but its owners and admins). `masks` is
-- the JSON list of fields masked for readers outside the owners.
ALTER TABLE topics ADD COLUMN owner_team TEXT;
ALTER TABLE topics ADD COLUMN owner_user TEXT;
ALTER TABLE topics ADD COLUMN access TEXT NOT NULL DEFAULT 'open'
    CHECK (access IN ('open', 'approval', 'private'));
ALTER TABLE topics ADD COLUMN masks TEXT NOT NULL DEFAULT '[]';

-- A subscription to a topic whose owners approve them is `pending` until they do (`active`);
-- who decided, and when.
ALTER TABLE user_subscriptions ADD COLUMN decided_by TEXT;
ALTER TABLE user_subscriptions ADD COLUMN decided_at TEXT;

-- A person's teams as the identity provider named them at their latest sign-in (a JSON list):
-- what their sessions and personal tokens act with.
ALTER TABLE identities ADD COLUMN teams TEXT NOT NULL DEFAULT '[]';
