//! The audit log: one row for every mutating call and every denied attempt — who, what, which
//! topic, from where, and how it ended. Rows are only ever appended. The SQL is in
//! `sql/audit.rs`.

use super::{on_db, Actor, Store, StoreError};
use crate::now_rfc3339;
use app::wire::AuditEntry;

/// How an audited action ended: the `outcome` column, a closed set so that queries and readers
/// of the log can rely on its words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    /// It took effect.
    Ok,
    /// The caller was not allowed to do it (bad or missing credentials).
    Denied,
    /// The request was refused as invalid (a 4xx).
    Rejected,
    /// It was allowed and valid but did not succeed (broker or database trouble).
    Failed,
}

impl AuditOutcome {
    /// The word stored in the `outcome` column and shown by `GET /api/audit`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Rejected => "rejected",
            AuditOutcome::Failed => "failed",
        }
    }
}

/// An event to record outside a lifecycle transaction (denials, failures).
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub action: &'a str,
    pub topic_name: Option<&'a str>,
    pub outcome: AuditOutcome,
    pub detail: Option<&'a str>,
}

/// Which rows `GET /api/audit` wants.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub topic: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
}

impl Store {
    /// Records an event on its own (a denied attempt, a failed activation, …).
    pub async fn record(&self, actor: &Actor, entry: NewAuditEntry<'_>) -> Result<(), StoreError> {
        let now = now_rfc3339();
        on_db!(&self.db, db => db.record(actor, entry, &now).await)
    }

    /// Records an event unless the topic's latest row for the same action says the same (same
    /// actor, outcome and detail): a failure that repeats on every poll (an activation while
    /// the broker is down, a recreation it refuses) is written once per change of state, not
    /// once per attempt.
    pub async fn record_unless_repeated(
        &self,
        actor: &Actor,
        entry: NewAuditEntry<'_>,
    ) -> Result<(), StoreError> {
        let now = now_rfc3339();
        on_db!(&self.db, db => db.record_unless_repeated(actor, entry, &now).await)
    }

    /// Audit rows matching `filter`, newest first.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        on_db!(&self.db, db => db.audit(filter).await)
    }
}
