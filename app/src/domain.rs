//! Validated domain values: the rules for topic names, user ids, partition counts and so on,
//! written once so that the dashboard's form, the REST API and the CLI refuse exactly the same
//! input. A value of these types cannot be invalid: the only way in is `parse`.
//!
//! This module must not depend on any runtime (it compiles to WASM as well).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why one input field was refused; the server turns it into a 400 naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The JSON field at fault, as the client sent it (`name`, `partitions`, …).
    pub field: &'static str,
    /// A sentence saying what is wrong and what would be right.
    pub message: String,
}

impl FieldError {
    /// An error for `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// Kafka's own limit on a topic name's length.
pub const TOPIC_NAME_MAX_LEN: usize = 249;
/// Longest user id or `created_by` we store.
pub const USER_ID_MAX_LEN: usize = 128;
/// Longest topic description or rejection reason we take, in characters (as JSON Schema counts).
pub const TEXT_MAX_CHARS: usize = 1024;
/// [`TopicName::parse`] as a regular expression, for the OpenAPI document. It is written in the
/// subset that ECMA-262 (JSON Schema's dialect), Python's `re` and Rust's `regex` read alike, so
/// that a schema-checking client and our tests agree with the parser (a test holds them equal).
pub const TOPIC_NAME_PATTERN: &str = r"^([a-zA-Z0-9-][a-zA-Z0-9._-]*|_([a-zA-Z0-9.-][a-zA-Z0-9._-]*)?|\.[a-zA-Z0-9_-][a-zA-Z0-9._-]*|\.\.[a-zA-Z0-9._-]+)$";
/// [`UserId::parse`] as a regular expression (with a `maxLength` of [`USER_ID_MAX_LEN`]): no
/// control character anywhere, and one character that is neither a control nor white space.
pub const USER_ID_PATTERN: &str = concat!(
    r"^[^\x00-\x1f\x7f-\u009f]*",
    r"[^\x00-\x1f\x7f-\u009f \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"[^\x00-\x1f\x7f-\u009f]*$"
);
/// "Not only white space" (what `str::trim` removes) and no NUL, as a regular expression.
pub const NOT_BLANK_PATTERN: &str = concat!(
    r"^[^\x00]*",
    r"[^\x00\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"[^\x00]*$"
);
/// [`parse_description`]'s characters as a regular expression: anything but NUL.
pub const NO_NUL_PATTERN: &str = r"^[^\x00]*$";
/// Default upper bound on partitions per topic (the server's is configurable).
pub const DEFAULT_MAX_PARTITIONS: i64 = 1000;

/// A name Kafka accepts: 1–249 of `[a-zA-Z0-9._-]`, and not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicName(String);

impl TopicName {
    /// Checks `raw` against Kafka's topic-name rules (no trimming: what is checked is what Kafka gets).
    pub fn parse(raw: &str) -> Result<TopicName, FieldError> {
        Self::parse_field(raw, "name")
    }

    /// As [`TopicName::parse`], naming `field` in the error (bodies call it `name` or `topic_name`).
    pub fn parse_field(raw: &str, field: &'static str) -> Result<TopicName, FieldError> {
        if raw.is_empty() {
            return Err(FieldError::new(field, "a topic name must not be empty"));
        }
        if raw.len() > TOPIC_NAME_MAX_LEN {
            return Err(FieldError::new(
                field,
                format!("a topic name has at most {TOPIC_NAME_MAX_LEN} characters"),
            ));
        }
        if raw == "." || raw == ".." {
            return Err(FieldError::new(field, "a topic name cannot be '.' or '..'"));
        }
        if raw.starts_with("__") {
            return Err(FieldError::new(
                field,
                "names starting with '__' belong to Kafka itself (__consumer_offsets, …)",
            ));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(FieldError::new(
                field,
                format!(
                    "a topic name may use only letters, digits, '.', '_' and '-' (found {bad:?})"
                ),
            ));
        }
        Ok(TopicName(raw.to_owned()))
    }

    /// The name as Kafka knows it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TopicName {
    type Error = FieldError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        TopicName::parse(&raw)
    }
}

impl From<TopicName> for String {
    fn from(name: TopicName) -> String {
        name.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who a subscription belongs to or who requested a topic: at most 128 characters, none of them
/// a control character, not only white space; stored with surrounding white space removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserId(String);

impl UserId {
    /// Checks `raw` and trims it, naming `field` (`user_id` or `created_by`) in the error. The
    /// rules apply to `raw` as sent, so that the OpenAPI document can state them exactly.
    pub fn parse(raw: &str, field: &'static str) -> Result<UserId, FieldError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if raw.chars().count() > USER_ID_MAX_LEN {
            return Err(FieldError::new(
                field,
                format!("must have at most {USER_ID_MAX_LEN} characters"),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(UserId(trimmed.to_owned()))
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a partition count against `1..=max`.
pub fn parse_partitions(raw: i64, max: i64) -> Result<i32, FieldError> {
    if (1..=max).contains(&raw) {
        // `max` is itself bounded by the server's config to fit an i32.
        i32::try_from(raw).map_err(|_| FieldError::new("partitions", "is too large"))
    } else {
        Err(FieldError::new(
            "partitions",
            format!("must be between 1 and {max}"),
        ))
    }
}

/// Checks a replication factor against `1..=max` (the server passes the broker count when known).
pub fn parse_replication_factor(raw: i64, max: i64) -> Result<i32, FieldError> {
    if (1..=max).contains(&raw) {
        i32::try_from(raw).map_err(|_| FieldError::new("replication_factor", "is too large"))
    } else if raw >= 1 {
        Err(FieldError::new(
            "replication_factor",
            format!("must not exceed the number of brokers ({max})"),
        ))
    } else {
        Err(FieldError::new("replication_factor", "must be at least 1"))
    }
}

/// Checks a description's size (at most 1024 characters, any text but the NUL character, which
/// PostgreSQL cannot store; stored trimmed).
pub fn parse_description(raw: &str) -> Result<String, FieldError> {
    if raw.contains('\0') {
        Err(FieldError::new("description", "must not contain NUL"))
    } else if raw.chars().count() > TEXT_MAX_CHARS {
        Err(FieldError::new(
            "description",
            format!("must have at most {TEXT_MAX_CHARS} characters"),
        ))
    } else {
        Ok(raw.trim().to_owned())
    }
}

/// Checks an admin's reason for rejecting a topic: 1–1024 characters, not only white space, no
/// NUL (stored trimmed).
pub fn parse_reason(raw: &str) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || raw.chars().count() > TEXT_MAX_CHARS || raw.contains('\0') {
        Err(FieldError::new(
            "reason",
            format!("give a reason of 1 to {TEXT_MAX_CHARS} characters"),
        ))
    } else {
        Ok(trimmed.to_owned())
    }
}

/// The kinds of realistic data the producer daemon can generate into a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Sensor,
    Weather,
    Payment,
    Logs,
    UserActivity,
}

impl EventType {
    /// Every type, in the order the dashboard lists them.
    pub const ALL: [EventType; 5] = [
        EventType::Sensor,
        EventType::Weather,
        EventType::Payment,
        EventType::Logs,
        EventType::UserActivity,
    ];

    /// The word stored with the topic and sent in record headers.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Sensor => "sensor",
            EventType::Weather => "weather",
            EventType::Payment => "payment",
            EventType::Logs => "logs",
            EventType::UserActivity => "user_activity",
        }
    }

    /// Reads an explicit choice, exactly as spelled; an empty string means "no choice".
    pub fn parse(word: &str) -> Result<Option<EventType>, FieldError> {
        if word.is_empty() {
            return Ok(None);
        }
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == word)
            .map(Some)
            .ok_or_else(|| {
                let known: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                FieldError::new("event_type", format!("must be one of {}", known.join(", ")))
            })
    }

    /// The type a topic gets when nobody chose one: guessed from words in its name, user
    /// activity when nothing matches (the REST contract's example topic is `user_events`).
    pub fn guess_from_name(name: &str) -> EventType {
        let name = name.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
        if has(&["sensor", "iot", "device", "telemetry"]) {
            EventType::Sensor
        } else if has(&["weather", "climate", "station"]) {
            EventType::Weather
        } else if has(&["payment", "transaction", "order", "billing"]) {
            EventType::Payment
        } else if has(&["log", "error", "audit"]) {
            EventType::Logs
        } else {
            EventType::UserActivity
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in [
            "user_events",
            "a",
            "A.b-c_9",
            &"x".repeat(249),
            "...",
            "_private",
            "_",
        ] {
            assert!(TopicName::parse(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in [
            "",
            ".",
            "..",
            "has space",
            "slash/",
            "é",
            &"x".repeat(250),
            "__consumer_offsets",
            "__",
        ] {
            let err = TopicName::parse(bad).unwrap_err();
            assert_eq!(err.field, "name", "{bad}");
        }
    }

    #[test]
    fn user_ids_are_trimmed_and_bounded() {
        assert_eq!(
            UserId::parse("  user_1 ", "user_id").unwrap().as_str(),
            "user_1"
        );
        assert!(UserId::parse("   ", "user_id").is_err());
        assert!(UserId::parse(&"u".repeat(129), "user_id").is_err());
        assert!(UserId::parse("a\u{0}b", "user_id").is_err());
        assert_eq!(
            UserId::parse("", "created_by").unwrap_err().field,
            "created_by"
        );
    }

    #[test]
    fn partition_and_replication_bounds() {
        assert_eq!(parse_partitions(3, 1000), Ok(3));
        assert!(parse_partitions(0, 1000).is_err());
        assert!(parse_partitions(1001, 1000).is_err());
        assert!(parse_partitions(-5, 1000).is_err());
        assert_eq!(parse_replication_factor(1, 1), Ok(1));
        let err = parse_replication_factor(3, 1).unwrap_err();
        assert!(err.message.contains("brokers"), "{}", err.message);
        assert!(parse_replication_factor(0, 3).is_err());
    }

    #[test]
    fn texts_are_bounded_in_characters() {
        assert!(parse_description(&"é".repeat(1024)).is_ok());
        assert!(parse_description(&"é".repeat(1025)).is_err());
        assert!(parse_description("a\0b").is_err());
        assert!(parse_reason("no\0").is_err());
        assert_eq!(parse_reason("  too noisy ").unwrap(), "too noisy");
        assert!(parse_reason(" \t\n").is_err());
        assert!(parse_reason(&"x".repeat(1025)).is_err());
    }

    /// Strings near the rules' edges: names of dots, white space of every kind, controls.
    fn edgy_text() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "a", "Z", "9", ".", "..", "_", "-", " ", "\t", "\n", "\u{85}", "\u{a0}", "\u{1c}",
            "\u{2003}", "\u{3000}", "\u{7f}", "\u{9f}", "é", "中", "/", "\u{0}", "\u{200b}",
            "\u{feff}",
        ]);
        prop::collection::vec(pieces, 0..12).prop_map(|v| v.concat())
    }

    #[test]
    fn event_types_parse_and_guess() {
        assert_eq!(EventType::parse("payment"), Ok(Some(EventType::Payment)));
        assert_eq!(EventType::parse(""), Ok(None));
        assert!(EventType::parse("video").is_err());
        assert_eq!(EventType::guess_from_name("sensor_data"), EventType::Sensor);
        assert_eq!(EventType::guess_from_name("payments"), EventType::Payment);
        assert_eq!(EventType::guess_from_name("app_logs"), EventType::Logs);
        assert_eq!(EventType::guess_from_name("weather.eu"), EventType::Weather);
        assert_eq!(
            EventType::guess_from_name("user_events"),
            EventType::UserActivity
        );
    }

    proptest! {
        #[test]
        fn the_patterns_say_what_the_parsers_say(raw in prop_oneof![edgy_text(), ".{0,12}"]) {
            let topic = regex::Regex::new(TOPIC_NAME_PATTERN).unwrap();
            prop_assert_eq!(topic.is_match(&raw), TopicName::parse(&raw).is_ok());
            let user = regex::Regex::new(USER_ID_PATTERN).unwrap();
            prop_assert_eq!(user.is_match(&raw), UserId::parse(&raw, "user_id").is_ok());
            let not_blank = regex::Regex::new(NOT_BLANK_PATTERN).unwrap();
            prop_assert_eq!(not_blank.is_match(&raw), parse_reason(&raw).is_ok());
            let no_nul = regex::Regex::new(NO_NUL_PATTERN).unwrap();
            prop_assert_eq!(no_nul.is_match(&raw), parse_description(&raw).is_ok());
        }

        #[test]
        fn accepted_names_contain_only_legal_characters(raw in ".{0,260}") {
            if let Ok(name) = TopicName::parse(&raw) {
                prop_assert!(!name.as_str().is_empty() && name.as_str().len() <= 249);
                prop_assert!(name.as_str().chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
                prop_assert!(name.as_str() != "." && name.as_str() != "..");
            }
        }

        #[test]
        fn legal_names_are_accepted(raw in "[a-zA-Z0-9._-]{3,249}") {
            prop_assume!(!raw.starts_with("__"));
            prop_assert!(TopicName::parse(&raw).is_ok());
        }
    }
}
