//! Who may read what, as values: a topic's access level, its owning team, and the fields of its
//! records that are masked for readers outside that team. The rules for what a valid team name
//! or field path is live here, written once for the dashboard's form, the REST API and the CLI;
//! the server decides who is an owner and applies the masks (`server/src/access/`).
//!
//! This module must not depend on any runtime (it compiles to WASM as well).

use crate::domain::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Who may subscribe to a topic and read its records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    /// Anyone signed in subscribes and reads.
    #[default]
    Open,
    /// A subscription is a request the owning team approves; until then nothing is read.
    Approval,
    /// As `approval`, and hidden from everyone outside the owning team but admins: to them
    /// the topic does not exist.
    Private,
}

impl AccessLevel {
    /// Every level, from the most open.
    pub const ALL: [AccessLevel; 3] = [
        AccessLevel::Open,
        AccessLevel::Approval,
        AccessLevel::Private,
    ];

    /// The word stored in the database and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Open => "open",
            AccessLevel::Approval => "approval",
            AccessLevel::Private => "private",
        }
    }

    /// Reads a level word back; `None` for anything that is not one.
    pub fn parse(word: &str) -> Option<AccessLevel> {
        AccessLevel::ALL.into_iter().find(|l| l.as_str() == word)
    }

    /// Whether a subscription must be approved by the owners before anything is read.
    pub fn needs_approval(self) -> bool {
        self != AccessLevel::Open
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest team name taken from the identity provider or a request.
pub const TEAM_MAX_LEN: usize = 128;
/// Most teams a person is counted in (the rest of a longer claim is ignored, and logged).
pub const TEAMS_MAX: usize = 64;

/// A team, as the identity provider names it: 1–128 characters, no control characters, not
/// only white space; stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TeamName(String);

impl TryFrom<String> for TeamName {
    type Error = FieldError;
    fn try_from(raw: String) -> Result<TeamName, FieldError> {
        TeamName::parse(&raw, "team")
    }
}

impl From<TeamName> for String {
    fn from(team: TeamName) -> String {
        team.0
    }
}

impl TeamName {
    /// Checks `raw` and trims it, naming `field` in the error.
    pub fn parse(raw: &str, field: &'static str) -> Result<TeamName, FieldError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if raw.chars().count() > TEAM_MAX_LEN {
            return Err(FieldError::new(
                field,
                format!("must have at most {TEAM_MAX_LEN} characters"),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(TeamName(trimmed.to_owned()))
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TeamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a masked field is shown to readers outside the owning team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MaskMethod {
    /// The field is left out.
    Remove,
    /// The value becomes `"***"`.
    Redact,
    /// The value becomes a keyed hash: equal values give equal hashes within a deployment (so
    /// records still join), and nobody without the server's key can reverse it.
    Hash,
    /// Text keeps its last four characters, the rest become `*`; other values are redacted.
    Last4,
}

impl MaskMethod {
    /// The word sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MaskMethod::Remove => "remove",
            MaskMethod::Redact => "redact",
            MaskMethod::Hash => "hash",
            MaskMethod::Last4 => "last4",
        }
    }
}

/// One masked field of a topic's record values, as a request or a topic answer carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MaskRule {
    /// A field of the record's value: names joined by `.`, `*` for any one field or element
    /// (`customer_id`, `card.number`, `contact.*.email`).
    pub path: String,
    pub method: MaskMethod,
}

/// What the owners of a topic decide about someone's subscription to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionDecision {
    /// A request becomes an active subscription.
    Approve,
    /// A request is turned down (and forgotten: its user may ask again).
    Reject,
    /// An active subscription is taken away: its streams and searches end.
    Revoke,
}

impl SubscriptionDecision {
    /// The audit log's action word.
    pub fn action(self) -> &'static str {
        match self {
            SubscriptionDecision::Approve => "approve_subscription",
            SubscriptionDecision::Reject => "reject_subscription",
            SubscriptionDecision::Revoke => "revoke_subscription",
        }
    }
}

/// Body of `POST /api/subscriptions/decision`: the owners (or an admin) decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SubscriptionDecisionRequest {
    /// Whose subscription.
    pub user_id: String,
    pub topic_name: String,
    pub decision: SubscriptionDecision,
}

/// Body of `PUT /api/topics/{id}/access`: the owners change who may read their topic. What is
/// left out stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AccessUpdate {
    #[serde(default)]
    pub access: Option<AccessLevel>,
    #[serde(default)]
    pub masks: Option<Vec<MaskRule>>,
}

/// Body of `PUT /api/topics/{id}/owner` (admins): who owns the topic from now on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OwnerUpdate {
    /// `team:<team>`, `user:<user id>`, or `null` for nobody.
    #[serde(default)]
    pub owner: Option<String>,
}

/// [`OwnerUpdate::owner`]'s form as a regular expression (with at most [`OWNER_MAX_LEN`]
/// characters): `team:` or `user:`, then a team name or user id.
pub const OWNER_PATTERN: &str = concat!(
    r"^(team|user):[^\x00-\x1f\x7f-\u009f]*",
    r"[^\x00-\x1f\x7f-\u009f \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"[^\x00-\x1f\x7f-\u009f]*$"
);
/// Longest [`OwnerUpdate::owner`]: the prefix and a name of at most 128 characters.
pub const OWNER_MAX_LEN: usize = 5 + TEAM_MAX_LEN;

/// A team or a person, as [`OwnerUpdate::owner`] names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedOwner {
    Team(TeamName),
    User(crate::domain::UserId),
}

impl NamedOwner {
    /// Reads `team:<team>` or `user:<user id>`.
    pub fn parse(raw: &str) -> Result<NamedOwner, FieldError> {
        if let Some(team) = raw.strip_prefix("team:") {
            return Ok(NamedOwner::Team(TeamName::parse(team, "owner")?));
        }
        if let Some(user) = raw.strip_prefix("user:") {
            return Ok(NamedOwner::User(crate::domain::UserId::parse(
                user, "owner",
            )?));
        }
        Err(FieldError::new(
            "owner",
            "must be `team:<team>` or `user:<user id>` (or null for nobody)",
        ))
    }
}

/// A team's request to own a topic nobody owns, waiting for an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TopicClaim {
    pub topic_id: i64,
    pub topic_name: String,
    /// The team that would own it.
    pub team: String,
    /// Who asked, for the team.
    pub requested_by: String,
    pub requested_at: String,
}

/// Body of `POST /api/topics/{id}/claim`: the team (one of the caller's) that asks to own it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ClaimRequest {
    pub team: String,
}

/// Body of `POST /api/topics/{id}/claim/decision` (admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ClaimDecision {
    /// The team whose claim is decided.
    pub team: String,
    /// `true` gives it the topic; `false` turns its claim down.
    pub approve: bool,
}

/// Reads masks as the dashboard's box writes them: one field per line, `path method`
/// (`customer_id hash`).
pub fn parse_mask_lines(text: &str) -> Result<Vec<MaskRule>, String> {
    let mut rules = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (path, method) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let method = match method.trim() {
            "remove" => MaskMethod::Remove,
            "redact" => MaskMethod::Redact,
            "hash" => MaskMethod::Hash,
            "last4" => MaskMethod::Last4,
            other => {
                return Err(format!(
                    "{line:?}: say how to mask it (remove, redact, hash or last4), not {other:?}"
                ))
            }
        };
        FieldPath::parse(path, "masks").map_err(|e| format!("{line:?}: {}", e.message))?;
        rules.push(MaskRule {
            path: path.to_owned(),
            method,
        });
    }
    parse_masks(&rules).map_err(|e| e.message)?;
    Ok(rules)
}

/// Masks as the dashboard's box writes them ([`parse_mask_lines`] reads them back).
pub fn mask_lines(rules: &[MaskRule]) -> String {
    rules
        .iter()
        .map(|r| format!("{} {}", r.path, r.method.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Most subscribers `GET /api/topics/{id}/subscribers` lists (the first by user id).
pub const SUBSCRIBERS_LISTED: usize = 200;
/// Most subscribers whose lag one answer measures (each is a look-up at the broker).
pub const SUBSCRIBERS_LAG_MEASURED: usize = 20;

/// `GET /api/topics/{id}/subscribers`: who reads a topic, as its owners and admins see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TopicSubscribers {
    /// By user id, at most [`SUBSCRIBERS_LISTED`].
    pub subscribers: Vec<TopicSubscriber>,
    /// Whether more subscribe than are listed.
    pub more: bool,
}

/// One subscriber of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TopicSubscriber {
    pub user_id: String,
    /// `active`, or `pending` while the owners decide.
    pub status: String,
    pub subscribed_at: String,
    /// Records behind the end over the partitions where their consumer group
    /// (`streamhub-<user>`) stored a position; `null` when none did, for a request, for an
    /// inactive topic, or past the first [`SUBSCRIBERS_LAG_MEASURED`] active subscribers.
    pub lag: Option<i64>,
}

/// Longest field path, in characters.
pub const FIELD_PATH_MAX_LEN: usize = 256;
/// Most masked fields a topic has.
pub const MASKS_MAX: usize = 32;
/// Most names in one field path.
pub const FIELD_PATH_MAX_DEPTH: usize = 8;
/// [`FieldPath::parse`] as a regular expression (with at most 256 characters and
/// [`FIELD_PATH_MAX_DEPTH`] names): names of letters, digits, `_`, `-` or `$`, or `*`, joined
/// by single dots.
pub const FIELD_PATH_PATTERN: &str = r"^(\*|[A-Za-z0-9_$-]+)(\.(\*|[A-Za-z0-9_$-]+)){0,7}$";

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// The field of this name (or, in a list, the element at this index).
    Field(String),
    /// Every field of an object, every element of a list.
    Any,
}

/// A checked field path: 1–8 steps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath(Vec<PathStep>);

impl FieldPath {
    /// Reads `customer_id`, `card.number` or `contact.*.email`, naming `field` in the error.
    pub fn parse(raw: &str, field: &'static str) -> Result<FieldPath, FieldError> {
        if raw.chars().count() > FIELD_PATH_MAX_LEN {
            return Err(FieldError::new(
                field,
                format!("must have at most {FIELD_PATH_MAX_LEN} characters"),
            ));
        }
        let mut steps = Vec::new();
        for name in raw.split('.') {
            let step = match name {
                "*" => PathStep::Any,
                "" => {
                    return Err(FieldError::new(
                        field,
                        "names are joined by single dots, with none at either end",
                    ))
                }
                name if name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$')) =>
                {
                    PathStep::Field(name.to_owned())
                }
                _ => {
                    return Err(FieldError::new(
                        field,
                        "a name has letters, digits, `_`, `-` or `$` (or is `*`, for any)",
                    ))
                }
            };
            steps.push(step);
        }
        if steps.len() > FIELD_PATH_MAX_DEPTH {
            return Err(FieldError::new(
                field,
                format!("must have at most {FIELD_PATH_MAX_DEPTH} names"),
            ));
        }
        Ok(FieldPath(steps))
    }

    /// The steps, outermost first.
    pub fn steps(&self) -> &[PathStep] {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match step {
                PathStep::Field(name) => f.write_str(name)?,
                PathStep::Any => f.write_str("*")?,
            }
        }
        Ok(())
    }
}

/// Checks a topic's masks: at most [`MASKS_MAX`], each path valid. They apply in order, so a
/// field named twice shows as the later one masks it.
pub fn parse_masks(rules: &[MaskRule]) -> Result<Vec<(FieldPath, MaskMethod)>, FieldError> {
    if rules.len() > MASKS_MAX {
        return Err(FieldError::new(
            "masks",
            format!("a topic masks at most {MASKS_MAX} fields"),
        ));
    }
    rules
        .iter()
        .map(|rule| Ok((FieldPath::parse(&rule.path, "masks")?, rule.method)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_read_names_and_wildcards() {
        let path = FieldPath::parse("contact.*.email", "masks").unwrap();
        assert_eq!(
            path.steps(),
            [
                PathStep::Field("contact".into()),
                PathStep::Any,
                PathStep::Field("email".into())
            ]
        );
        assert_eq!(path.to_string(), "contact.*.email");
        for bad in ["", ".a", "a.", "a..b", "a b", "a.\u{0}", "é"] {
            assert!(FieldPath::parse(bad, "masks").is_err(), "{bad:?}");
        }
        assert!(FieldPath::parse("a.b.c.d.e.f.g.h", "masks").is_ok());
        assert!(FieldPath::parse("a.b.c.d.e.f.g.h.i", "masks").is_err());
    }

    #[test]
    fn the_pattern_says_what_the_parser_takes() {
        let pattern = regex::Regex::new(FIELD_PATH_PATTERN).unwrap();
        for raw in [
            "a",
            "*",
            "a.b",
            "contact.*.email",
            "a.b.c.d.e.f.g.h",
            "a.b.c.d.e.f.g.h.i",
            "",
            ".",
            "a..b",
            "a b",
            "$x.-y_",
            "é",
            "a.*.*",
        ] {
            assert_eq!(
                pattern.is_match(raw),
                FieldPath::parse(raw, "masks").is_ok(),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn the_masks_box_reads_back_what_it_shows() {
        let text = "customer_id hash\n\n  card.number last4 \ncontact.*.email redact";
        let rules = parse_mask_lines(text).unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[1].path, "card.number");
        assert_eq!(rules[1].method, MaskMethod::Last4);
        assert_eq!(parse_mask_lines(&mask_lines(&rules)).unwrap(), rules);
        assert!(parse_mask_lines("customer_id scramble").is_err());
        assert!(parse_mask_lines("customer_id").is_err());
        assert!(parse_mask_lines("a..b hash").is_err());
    }

    #[test]
    fn masks_are_few() {
        let rule = |path: &str| MaskRule {
            path: path.into(),
            method: MaskMethod::Hash,
        };
        assert_eq!(parse_masks(&[rule("a"), rule("b.c")]).unwrap().len(), 2);
        let many: Vec<MaskRule> = (0..=MASKS_MAX).map(|i| rule(&format!("f{i}"))).collect();
        assert!(parse_masks(&many).is_err());
        assert!(parse_masks(&many[..MASKS_MAX]).is_ok());
    }

    #[test]
    fn team_names_are_trimmed_and_bounded() {
        assert_eq!(
            TeamName::parse(" payments ", "owner_team")
                .unwrap()
                .as_str(),
            "payments"
        );
        assert!(TeamName::parse("  ", "owner_team").is_err());
        assert!(TeamName::parse("a\nb", "owner_team").is_err());
        assert!(TeamName::parse(&"x".repeat(TEAM_MAX_LEN + 1), "owner_team").is_err());
    }

    #[test]
    fn owners_are_named_with_their_kind_and_the_pattern_agrees() {
        let pattern = regex::Regex::new(OWNER_PATTERN).unwrap();
        for raw in [
            "team:payments",
            "user:ana",
            "team: x ",
            "team:",
            "team:  ",
            "ana",
            "group:x",
            "user:a\nb",
        ] {
            assert_eq!(
                pattern.is_match(raw),
                NamedOwner::parse(raw).is_ok(),
                "{raw:?}"
            );
        }
        assert!(
            matches!(NamedOwner::parse("team:web"), Ok(NamedOwner::Team(t)) if t.as_str() == "web")
        );
    }

    #[test]
    fn levels_read_back() {
        for level in AccessLevel::ALL {
            assert_eq!(AccessLevel::parse(level.as_str()), Some(level));
        }
        assert_eq!(AccessLevel::parse("public"), None);
        assert!(!AccessLevel::Open.needs_approval());
        assert!(AccessLevel::Private.needs_approval());
    }
}
