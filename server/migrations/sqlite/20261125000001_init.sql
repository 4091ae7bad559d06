-- StreamHub metadata. Timestamps are RFC 3339 UTC text (they sort in time order).

CREATE TABLE topics (
    topic_id           INTEGER PRIMARY KEY AUTOINCREMENT,
    topic_name         TEXT    NOT NULL UNIQUE,
    status             TEXT    NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'approved', 'active', 'rejected', 'inactive')),
    partitions         INTEGER NOT NULL CHECK (partitions >= 1),
    replication_factor INTEGER NOT NULL CHECK (replication_factor >= 1),
    description        TEXT    NOT NULL DEFAULT '',
    event_type         TEXT,
    created_by         TEXT    NOT NULL,
    created_at         TEXT    NOT NULL,
    approved_at        TEXT,
    approved_by        TEXT,
    activated_at       TEXT,
    rejected_at        TEXT,
    rejected_reason    TEXT,
    deactivated_at     TEXT,
    updated_at         TEXT    NOT NULL
);

CREATE INDEX topics_status ON topics (status);

CREATE TABLE user_subscriptions (
    subscription_id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         TEXT    NOT NULL,
    topic_id        INTEGER NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    status          TEXT    NOT NULL DEFAULT 'active',
    subscribed_at   TEXT    NOT NULL,
    UNIQUE (user_id, topic_id)
);

CREATE INDEX user_subscriptions_topic ON user_subscriptions (topic_id);

CREATE TABLE audit_log (
    audit_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    topic_name  TEXT,
    remote_addr TEXT,
    outcome     TEXT NOT NULL,
    detail      TEXT
);

CREATE INDEX audit_log_topic ON audit_log (topic_name, audit_id);
CREATE INDEX audit_log_actor ON audit_log (actor, audit_id);
