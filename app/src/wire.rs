//! Wire types: the JSON bodies of the REST API (docs/api.md), defined once and used by the
//! server, the browser and the CLI. One file past 600 lines on purpose: it is the contract, read
//! as a whole, and each body stands beside the ones it answers or is answered by. Field names and status words here *are* the contract: rename
//! nothing, add freely. Timestamps travel as RFC 3339 UTC strings so that every client (Python
//! scripts included) reads them without a date library.
//!
//! This module must not depend on any runtime: it compiles for the server, for WASM and for the
//! CLI alike.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a topic is in its life. Transitions are enforced by the server's store, not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TopicStatus {
    /// Requested by anyone, waiting for an admin.
    Pending,
    /// An admin said yes; waiting for the producer daemon to create it in Kafka.
    Approved,
    /// Exists in Kafka; the producer writes to it and the relay serves it.
    Active,
    /// An admin said no (with a reason). Final.
    Rejected,
    /// An admin stopped it; the Kafka topic and its data are kept and it can be reactivated.
    Inactive,
}

impl TopicStatus {
    /// Every status, in lifecycle order (for filters and counters).
    pub const ALL: [TopicStatus; 5] = [
        TopicStatus::Pending,
        TopicStatus::Approved,
        TopicStatus::Active,
        TopicStatus::Rejected,
        TopicStatus::Inactive,
    ];

    /// The status word stored in the database and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            TopicStatus::Pending => "pending",
            TopicStatus::Approved => "approved",
            TopicStatus::Active => "active",
            TopicStatus::Rejected => "rejected",
            TopicStatus::Inactive => "inactive",
        }
    }

    /// Reads a status word back; `None` for anything that is not one.
    pub fn parse(word: &str) -> Option<TopicStatus> {
        TopicStatus::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

impl fmt::Display for TopicStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `GET /api/topics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Topic {
    pub topic_id: i64,
    pub topic_name: String,
    pub status: TopicStatus,
    pub partitions: i32,
    pub replication_factor: i32,
    pub description: String,
    /// Which generator the producer uses; `None` means "guess from the name".
    pub event_type: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub approved_at: Option<String>,
    pub activated_at: Option<String>,
    pub rejected_at: Option<String>,
    pub rejected_reason: Option<String>,
    pub deactivated_at: Option<String>,
    pub updated_at: String,
    /// How many users subscribe to it.
    pub subscriber_count: i64,
    /// A topic of this name was already in Kafka when activation tried to create it (another
    /// application's, perhaps): the topic stays approved until an admin adopts the existing one
    /// (`POST /api/topics/{id}/adopt`); otherwise the requester asks for another name.
    #[serde(default)]
    pub kafka_conflict: bool,
    /// The team that owns it (decides its subscriptions and masks), if a team does.
    #[serde(default)]
    pub owner_team: Option<String>,
    /// The person who owns it, when whoever requested it had no team.
    #[serde(default)]
    pub owner_user: Option<String>,
    /// Who may read it.
    #[serde(default)]
    pub access: crate::access::AccessLevel,
    /// Fields of its record values masked for readers outside its owners.
    #[serde(default)]
    pub masks: Vec<crate::access::MaskRule>,
    /// The format of the value schema its request carried (`avro`, `protobuf`, `json_schema`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_schema_format: Option<String>,
    /// The registry's id for that schema, once approval registered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_schema_id: Option<i64>,
}

impl Topic {
    /// The kind of records the topic carries: its explicit choice, else a guess from its name.
    /// The producer generates this kind and the CLI labels the topic with it, so both must agree.
    pub fn event_type(&self) -> crate::domain::EventType {
        use crate::domain::EventType;
        self.event_type
            .as_deref()
            .and_then(|t| EventType::parse(t).ok().flatten())
            .unwrap_or_else(|| EventType::guess_from_name(&self.topic_name))
    }
}

/// Body of `POST /api/topics`. Optional fields take the REST contract's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewTopicRequest {
    pub name: String,
    pub created_by: String,
    #[serde(default = "default_partitions", deserialize_with = "integral")]
    pub partitions: i64,
    #[serde(default = "default_replication_factor", deserialize_with = "integral")]
    pub replication_factor: i64,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub event_type: Option<String>,
    /// The owning team: one of the requester's (`oidc` mode). Left out, a requester with one
    /// team is owned by it, one without teams owns the topic themself.
    #[serde(default)]
    pub owner_team: Option<String>,
    /// Who may read it (`open` by default; `open` mode takes `open` only).
    #[serde(default)]
    pub access: crate::access::AccessLevel,
    /// Fields of its record values masked for readers outside its owners.
    #[serde(default)]
    pub masks: Vec<crate::access::MaskRule>,
    /// The schema its record values are written with, registered as `<name>-value` when it is
    /// approved (needs the server's schema registry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_schema: Option<ValueSchema>,
}

/// A schema given with a topic request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ValueSchema {
    /// `avro`, `protobuf` or `json_schema`.
    pub format: String,
    /// The schema's text (an `.avsc`, a `.proto`, a JSON Schema).
    pub schema: String,
}

/// Reads a JSON integer, also when it is written with a zero fraction (`3.0`): JSON Schema's
/// `integer` includes those, and some clients (Python's `json.dumps(3.0)`) write them so.
fn integral<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct Integral;
    impl serde::de::Visitor<'_> for Integral {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
            // The bounds keep the cast exact; anything this large is refused by the rules anyway.
            if v.fract() == 0.0 && v.abs() < 9.0e15 {
                Ok(v as i64)
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
            }
        }
    }
    deserializer.deserialize_any(Integral)
}

fn default_partitions() -> i64 {
    1
}

fn default_replication_factor() -> i64 {
    1
}

/// Answer of `POST /api/topics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TopicCreated {
    pub message: String,
    pub topic_id: i64,
}

/// The plain `{"message": "..."}` answer of most mutating calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MessageBody {
    pub message: String,
}

impl MessageBody {
    /// Saves a `.to_string()` at every call site.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Body of `POST /api/topics/activate_by_name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ActivateRequest {
    pub topic_name: String,
}

/// Body of `POST /api/topics/<id>/records`: one test record, composed by a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ProduceRequest {
    /// The record's key (none: Kafka spreads keyless records over the partitions).
    #[serde(default)]
    pub key: Option<String>,
    /// Header names and values.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// The payload, sent as its JSON text.
    pub value: serde_json::Value,
    /// To a topic whose schema is Protobuf: the message to write, by its full name
    /// (`shop.Payment`) or its name alone. None: the message the topic's schema file names,
    /// else the schema's first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What a personal access token may do, capped at its owner's role when it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Read what its owner may read (subscriptions, lag, streams).
    Read,
    /// And write as its owner (requests, subscriptions, positions).
    Write,
    /// And act as an admin (only an admin's token).
    Admin,
}

impl TokenScope {
    /// The word the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
            TokenScope::Admin => "admin",
        }
    }

    /// The scope `word` names.
    pub fn parse(word: &str) -> Option<Self> {
        [TokenScope::Read, TokenScope::Write, TokenScope::Admin]
            .into_iter()
            .find(|s| s.as_str() == word)
    }
}

/// A personal access token as its owner sees it (never the token itself, after creation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AccessToken {
    pub token_id: i64,
    pub user_id: String,
    pub name: String,
    pub scope: TokenScope,
    pub created_at: String,
    /// When it stops working (RFC 3339); none: it does not expire.
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

/// The longest an admin token may live, in days: the role is read when the token is made, so an
/// admin token must not outlive its owner's removal from the admin group for long.
pub const ADMIN_TOKEN_MAX_DAYS: i64 = 90;
/// The longest any personal access token lasts, in days.
pub const TOKEN_MAX_DAYS: i64 = 366;
/// How long a read or write token lasts when its request names no expiry, in days.
pub const TOKEN_DEFAULT_DAYS: i64 = 90;

/// Body of `POST /api/tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewAccessToken {
    /// What it is for ("laptop CLI").
    pub name: String,
    pub scope: TokenScope,
    /// Days until it expires (1 to [`TOKEN_MAX_DAYS`]; an admin token's 1 to
    /// [`ADMIN_TOKEN_MAX_DAYS`], and named); none: [`TOKEN_DEFAULT_DAYS`]. Every token expires.
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

/// Answer of `POST /api/tokens`: the token, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedAccessToken {
    pub token: String,
    #[serde(flatten)]
    pub about: AccessToken,
}

/// Answer of `POST /auth/device` (`oidc` mode, the provider offering the device flow): what
/// `streamhub-consumer login` shows the person, and the handle it asks again with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceSignIn {
    /// Signed by the server (the provider's device code inside, of no use without StreamHub's
    /// client secret); the CLI only sends it back.
    pub handle: String,
    pub user_code: String,
    pub verification_uri: String,
    /// The same with the code filled in, when the provider offers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    /// Seconds the code stays valid.
    pub expires_in: u64,
    /// Seconds to wait between asks.
    pub interval: u64,
}

/// Body of `POST /auth/device/token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceSignInPoll {
    pub handle: String,
}

/// Answer of `POST /auth/device/token`: `pending` or `slow_down` (ask again), or `done` with
/// a personal access token made for the person who confirmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceSignInStatus {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// How far a person's consumer group (`streamhub-<user>`) is behind in one topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TopicLag {
    pub topic: String,
    pub partitions: Vec<PartitionLag>,
    /// Records behind over the partitions with a stored position (`None`: none has one).
    pub total: Option<i64>,
}

/// One partition of a [`TopicLag`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PartitionLag {
    pub partition: i32,
    /// The next offset the group reads (`None`: it never stored one).
    pub committed: Option<i64>,
    /// The offset the next record will get.
    pub end: i64,
    /// `end - committed`.
    pub lag: Option<i64>,
}

/// Body of `PUT /api/positions`: where a person is in a topic (partition → the next offset to
/// read), stored as their consumer group's committed offsets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SavePosition {
    pub user_id: String,
    pub topic_name: String,
    /// Partition (as a string key) → the next offset to read (a whole number; JSON readers
    /// may write it `42.0`).
    #[cfg_attr(feature = "ssr", schema(value_type = std::collections::BTreeMap<String, i64>))]
    pub offsets: std::collections::BTreeMap<String, f64>,
}

/// Where a produced record landed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Produced {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Body of `POST /api/topics/<id>/reject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RejectRequest {
    pub reason: String,
}

/// One row of `GET /api/topics/active`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ActiveTopic {
    pub topic_name: String,
    pub activated_at: Option<String>,
    pub partitions: i32,
    pub event_type: Option<String>,
    /// Who may read it: a subscription to an `approval` topic waits for its owners.
    #[serde(default)]
    pub access: crate::access::AccessLevel,
    /// Its owning team, if a team owns it.
    #[serde(default)]
    pub owner_team: Option<String>,
    /// Its owning person, when no team does.
    #[serde(default)]
    pub owner_user: Option<String>,
}

/// `GET /api/inbox`: what waits for the caller as one of topics' owners (or as an admin).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Inbox {
    /// Subscription requests to topics the caller decides for, oldest first.
    pub subscription_requests: Vec<Subscription>,
    /// Teams' claims on topics nobody owns (admins only), oldest first.
    #[serde(default)]
    pub claims: Vec<crate::access::TopicClaim>,
}

/// One row of `GET /api/subscriptions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Subscription {
    pub user_id: String,
    pub topic_name: String,
    /// `active`, or `pending` while the owners of a topic at level `approval` have not
    /// approved it (it grants nothing then).
    pub status: String,
    pub subscribed_at: String,
    /// The topic's own status, so a client can tell a subscription it cannot stream yet.
    pub topic_status: TopicStatus,
}

impl Subscription {
    /// Whether it grants reading (is not a request waiting for the topic's owners).
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// Body of `POST` and `DELETE /api/subscriptions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SubscriptionRequest {
    pub user_id: String,
    pub topic_name: String,
}

/// Answer of `GET /api/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Stats {
    pub total_topics: i64,
    pub pending_topics: i64,
    pub approved_topics: i64,
    pub active_topics: i64,
    pub rejected_topics: i64,
    pub inactive_topics: i64,
    pub total_subscriptions: i64,
    pub timestamp: String,
}

/// Reachability of one dependency, as `GET /api/health` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ComponentHealth {
    /// `up`, `down`, or `unknown` (not checked yet).
    pub status: String,
    /// The last error seen, when not up.
    pub error: Option<String>,
    /// When it was last checked.
    pub checked_at: Option<String>,
}

/// What the server knows about the Kafka cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BrokerHealth {
    #[serde(flatten)]
    pub component: ComponentHealth,
    /// The bootstrap servers the server talks to.
    pub bootstrap_servers: String,
    /// Brokers in the cluster's metadata (0 when unreachable).
    pub brokers: usize,
    /// Active topics that were missing in Kafka and got recreated since start-up.
    pub recreated_topics: Vec<String>,
    /// Active topics missing in Kafka that could not be recreated yet.
    pub missing_topics: Vec<String>,
}

/// The instances of the deployment (several behind a load balancer share one database): `up`
/// while every instance seen lately still checks in, `down` (with the lost ones in `error`)
/// while one does not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InstancesHealth {
    #[serde(flatten)]
    pub component: ComponentHealth,
    /// The names of the running instances, this one first.
    pub running: Vec<String>,
    /// The names of the instances that stopped checking in without a clean shutdown.
    pub lost: Vec<String>,
}

/// Answer of `GET /api/health`: `status` is `healthy` when broker and database are up,
/// `degraded` otherwise (a lost instance shows in `instances`: this one still serves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    pub timestamp: String,
    pub version: String,
    pub broker: BrokerHealth,
    pub database: ComponentHealth,
    pub instances: InstancesHealth,
}

/// One row of `GET /api/audit`: who did what, when, from where, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub audit_id: i64,
    pub at: String,
    /// `admin`, `producer`, a user id, or `anonymous`.
    pub actor: String,
    pub action: String,
    pub topic_name: Option<String>,
    pub remote_addr: Option<String>,
    /// `ok`, `denied`, `rejected`, or `failed`.
    pub outcome: String,
    pub detail: Option<String>,
    /// The user an admin acted for, when they acted for someone (`oidc` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
}

/// A topic with its history (`GET /api/topics/<id>`): the topic's fields and `history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TopicDetail {
    #[serde(flatten)]
    pub topic: Topic,
    pub history: Vec<AuditEntry>,
    /// The text of the value schema its request carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_schema: Option<String>,
}

/// The error body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A machine word (`invalid_field`, `not_found`, `conflict`, …).
    pub error: String,
    /// A sentence for people.
    pub message: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub field: Option<String>,
    /// The topic's current status, on a refused transition.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub current_status: Option<TopicStatus>,
}

/// The cookie holding the signed-in admin's CSRF token, readable by the dashboard's scripts.
pub const CSRF_COOKIE: &str = "streamhub_csrf";

/// The cookie remembering who "you are" on the dashboard (not a credential: anyone may act for
/// any user id, as the REST contract has it).
pub const USER_COOKIE: &str = "streamhub_user";

/// `POST /api/session`: the admin token, exchanged for a session cookie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SignIn {
    pub token: String,
}

/// `GET /api/session`: whether this browser is signed in as admin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub admin: bool,
    /// Who is signed in, when a person is (`oidc` mode); none for the admin token's session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// How people are known here: `open` (they name themselves) or `oidc` (they sign in through
    /// an identity provider).
    #[serde(default = "open_mode")]
    pub auth: String,
    /// The identity provider's name, in `oidc` mode (the sign-in button's "Sign in with …").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// When the session ends (RFC 3339), when signed in.
    pub expires_at: Option<String>,
    /// What mutating requests must send in `X-CSRF-Token`, when signed in.
    pub csrf_token: Option<String>,
    /// The signed-in person's teams, as the identity provider named them at sign-in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
}

fn open_mode() -> String {
    "open".to_owned()
}

/// One active topic's recent message rates (`GET /api/topics/rates`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TopicRate {
    pub topic_name: String,
    /// Records the topic holds in all (sum of high watermarks) at the last sample.
    pub total_messages: Option<i64>,
    /// Seconds between samples.
    pub interval_secs: u64,
    /// Records per second in each interval, oldest first; `null` where the broker did not answer.
    pub rates: Vec<Option<f64>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_detail_reads_back_what_it_writes() {
        let detail = TopicDetail {
            topic: Topic {
                topic_id: 7,
                topic_name: "payments".into(),
                status: TopicStatus::Active,
                partitions: 3,
                replication_factor: 1,
                description: "d".into(),
                event_type: Some("payment".into()),
                created_by: "ana".into(),
                created_at: "t0".into(),
                approved_at: Some("t1".into()),
                activated_at: None,
                rejected_at: None,
                rejected_reason: None,
                deactivated_at: None,
                updated_at: "t2".into(),
                subscriber_count: 2,
                kafka_conflict: true,
                owner_team: Some("payments".into()),
                owner_user: None,
                access: crate::access::AccessLevel::Approval,
                masks: vec![crate::access::MaskRule {
                    path: "customer_id".into(),
                    method: crate::access::MaskMethod::Hash,
                }],
                value_schema_format: Some("avro".into()),
                value_schema_id: Some(4),
            },
            value_schema: Some(r#""long""#.into()),
            history: vec![AuditEntry {
                audit_id: 1,
                at: "t1".into(),
                actor: "admin".into(),
                action: "approve".into(),
                topic_name: Some("payments".into()),
                remote_addr: None,
                outcome: "ok".into(),
                detail: None,
                on_behalf_of: None,
            }],
        };
        let json = serde_json::to_value(&detail).unwrap();
        // The contract: the topic's fields at the top level, beside `history`.
        assert_eq!(json["topic_name"], "payments");
        assert_eq!(json["history"][0]["action"], "approve");
        assert_eq!(serde_json::from_value::<TopicDetail>(json).unwrap(), detail);
    }

    #[test]
    fn status_words_round_trip_and_match_the_contract() {
        for status in TopicStatus::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(TopicStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TopicStatus::parse("Active"), None);
    }

    #[test]
    fn new_topic_request_takes_the_original_defaults() {
        let req: NewTopicRequest =
            serde_json::from_str(r#"{"name": "t", "created_by": "admin"}"#).unwrap();
        assert_eq!(req.partitions, 1);
        assert_eq!(req.replication_factor, 1);
        assert_eq!(req.description, "");
        assert_eq!(req.event_type, None);
    }

    #[test]
    fn counts_may_be_written_with_a_zero_fraction_but_not_with_another() {
        let parse = |json: &str| serde_json::from_str::<NewTopicRequest>(json);
        let req = parse(r#"{"name": "t", "created_by": "a", "partitions": 3.0}"#).unwrap();
        assert_eq!(req.partitions, 3);
        for bad in ["3.5", "\"3\"", "1e300", "18446744073709551615", "null"] {
            let json =
                format!(r#"{{"name": "t", "created_by": "a", "replication_factor": {bad}}}"#);
            assert!(parse(&json).is_err(), "{bad} was taken");
        }
    }

    #[test]
    fn error_body_omits_absent_fields() {
        let body = ErrorBody {
            error: "not_found".into(),
            message: "no such topic".into(),
            field: None,
            current_status: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"error": "not_found", "message": "no such topic"})
        );
    }
}
