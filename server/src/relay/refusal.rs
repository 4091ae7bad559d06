//! Everything a socket can be refused, as one enum: each variant gives the `error` frame's
//! machine word ([`Refusal::code`]) and its human sentence (`Display`). The socket's handlers
//! return them; the connection sends them. Adding a refusal here is adding it to the protocol
//! (docs/protocol.md lists the words).

use app::stream::ServerFrame;

/// Most topics one `subscribe` frame may name.
pub const MAX_TOPICS_PER_FRAME: usize = 100;

/// Why a socket's request (or the socket itself) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A binary frame: the protocol is JSON text.
    #[error("send JSON text frames")]
    Unsupported,
    /// A text frame that is not a control frame.
    #[error("not a control frame: {0}")]
    InvalidFrame(String),
    /// Control frames came faster than their allowance.
    #[error("too many control frames; slow down")]
    RateLimited,
    /// The socket's sign-in was signed out or its token revoked; the socket closes.
    #[error("your sign-in ended (signed out, or its token revoked): sign in again to stream")]
    SignedOut,
    /// The socket's sign-in expired; the socket closes.
    #[error("your sign-in expired: sign in again to stream")]
    SessionExpired,
    /// A `subscribe` frame named more than [`MAX_TOPICS_PER_FRAME`] topics.
    #[error("at most {MAX_TOPICS_PER_FRAME} topics per frame")]
    TooManyTopics,
    /// A `subscribe` frame named a topic twice (each entry may start a replay).
    #[error("{0} is named twice in one frame")]
    DuplicateTopics(String),
    /// The filter expression does not compile or is refused.
    #[error("{0}")]
    InvalidFilter(String),
    /// A topic name that is not one.
    #[error("{0}")]
    InvalidTopic(String),
    /// A partition the topic does not have.
    #[error("{topic} has partitions 0 to {}", partitions - 1)]
    InvalidPartition { topic: String, partitions: i32 },
    /// The socket was opened with a token that may only read.
    #[error("this socket was opened with a token that may only read")]
    ReadOnly,
    /// A socket that named no user cannot stream by subscription.
    #[error("connect with ?user_id=<you> to stream your subscribed topics")]
    NoUserToStream,
    /// A socket that named no user has no stored position.
    #[error("connect with ?user_id=<you> to {0}")]
    NoUser(&'static str),
    /// Streaming needs a subscription (or the admin right).
    #[error("{user} is not subscribed to {topic}; subscribe first")]
    NotSubscribed { user: String, topic: String },
    /// Searching needs a subscription (or the admin right).
    #[error("subscribe to {0} first to search it")]
    NotSubscribedToSearch(String),
    /// A stream the user does not subscribe to is not part of their position.
    #[error("{user} does not subscribe to {topic}: its position is not theirs to keep")]
    PositionNotTheirs { user: String, topic: String },
    /// No stream to save the position of.
    #[error("no stream to save the position of")]
    NothingStreamed,
    /// The broker did not store the position.
    #[error("{topics}: {why}")]
    PositionNotSaved { topics: String, why: String },
    /// The topic exists but is not active (or stopped being so meanwhile).
    #[error("{0}")]
    TopicNotActive(String),
    /// No such topic.
    #[error("no topic {0}")]
    TopicNotFound(String),
    /// The metadata store did not answer.
    #[error("{0}")]
    DatabaseUnavailable(String),
    /// The broker did not answer.
    #[error("{0}")]
    BrokerUnavailable(String),
    /// The socket or the relay runs as many searches as it may.
    #[error(
        "at most {per_user} search(es) per client and {total} in all run at once; wait for one to end"
    )]
    TooManySearches { per_user: usize, total: usize },
    /// A replay stopped before it reached the live stream.
    #[error("replay of {topic} stopped early: {why}")]
    ReplayFailed { topic: String, why: String },
    /// One evaluation of the stream's filter took longer than its budget.
    #[error("the filter took longer than {budget_ms} ms on one record of {topic}: simplify it")]
    FilterTooCostly { topic: String, budget_ms: u128 },
    /// The stream (or its client's streams) spent more evaluation time than its share.
    #[error("the filter on {topic} took more than its share of the server's time (stream {stream_ms} ms, client {client_ms} ms per second): simplify it or narrow the stream")]
    FilterShareSpent {
        topic: String,
        stream_ms: u128,
        client_ms: u128,
    },
    /// The expression was ended as too costly for this client a moment ago.
    #[error("this filter was stopped as too costly; it may be used again in {seconds} s")]
    FilterCoolingDown { seconds: u64 },
    /// The client uses as many distinct expressions as it may (`max`).
    #[error(
        "at most {max} different filters per client at once: end a stream or search that uses another"
    )]
    TooManyFilters { max: usize },
}

impl Refusal {
    /// The `error` frame's machine word.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Unsupported => "unsupported",
            Refusal::InvalidFrame(_) => "invalid_frame",
            Refusal::RateLimited => "rate_limited",
            Refusal::SignedOut => "signed_out",
            Refusal::SessionExpired => "session_expired",
            Refusal::TooManyTopics => "too_many_topics",
            Refusal::DuplicateTopics(_) => "duplicate_topics",
            Refusal::InvalidFilter(_) => "invalid_filter",
            Refusal::InvalidTopic(_) => "invalid_topic",
            Refusal::InvalidPartition { .. } => "invalid_partition",
            Refusal::ReadOnly => "forbidden",
            Refusal::NoUserToStream
            | Refusal::NotSubscribed { .. }
            | Refusal::NotSubscribedToSearch(_)
            | Refusal::PositionNotTheirs { .. } => "not_subscribed",
            Refusal::NoUser(_) => "no_user",
            Refusal::NothingStreamed => "nothing_streamed",
            Refusal::PositionNotSaved { .. } => "position_not_saved",
            Refusal::TopicNotActive(_) => "topic_not_active",
            Refusal::TopicNotFound(_) => "topic_not_found",
            Refusal::DatabaseUnavailable(_) => "database_unavailable",
            Refusal::BrokerUnavailable(_) => "broker_unavailable",
            Refusal::TooManySearches { .. } => "too_many_searches",
            Refusal::ReplayFailed { .. } => "replay_failed",
            Refusal::FilterTooCostly { .. } | Refusal::FilterShareSpent { .. } => {
                "filter_too_costly"
            }
            Refusal::FilterCoolingDown { .. } => "filter_cooling_down",
            Refusal::TooManyFilters { .. } => "too_many_filters",
        }
    }

    /// The `error` frame that tells the client.
    pub fn frame(&self) -> ServerFrame {
        ServerFrame::Error {
            error: self.code().to_owned(),
            message: self.to_string(),
        }
    }
}

impl From<crate::store::StoreError> for Refusal {
    fn from(e: crate::store::StoreError) -> Self {
        Refusal::DatabaseUnavailable(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_an_error_frame_with_its_word_and_sentence() {
        let refusal = Refusal::NotSubscribed {
            user: "ana".into(),
            topic: "payments".into(),
        };
        assert_eq!(
            refusal.frame(),
            ServerFrame::Error {
                error: "not_subscribed".into(),
                message: "ana is not subscribed to payments; subscribe first".into(),
            }
        );
        let partitions = Refusal::InvalidPartition {
            topic: "t".into(),
            partitions: 3,
        };
        assert_eq!(partitions.to_string(), "t has partitions 0 to 2");
    }
}
