//! What a verified ID token says of a person: the user id the configured claim names (else the
//! subject), whether the configured admin claim holds an admin value, and their teams (the
//! values of the team claim, optionally only those with a prefix). Reads claims only after the
//! token was verified; verifies nothing itself.

use super::{OidcError, Person};
use app::access::{TeamName, TEAMS_MAX};
use base64::Engine;
use serde_json::Value;

/// The audit log's names for the server's own actors: no person may sign in as one.
const RESERVED_NAMES: [&str; 5] = ["admin", "producer", "reconciler", "anonymous", "system"];

/// The JSON payload of a compact JWT (not verified here: only read after verification).
pub(super) fn token_payload(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Which claims say what of a person (from `AuthArgs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRules {
    /// Names the user (else the subject).
    pub user_claim: String,
    /// Carries roles or groups; one of `admin_values` makes an admin.
    pub admin_claim: String,
    pub admin_values: Vec<String>,
    /// Carries the person's teams (a string or a list of them).
    pub team_claim: String,
    /// Only values starting with this are teams, named without it (empty: every value).
    pub team_prefix: String,
}

impl ClaimRules {
    /// The claims a sign-in needs: when the ID token lacks one, userinfo is asked.
    pub(super) fn claims(&self) -> [&str; 3] {
        [&self.user_claim, &self.admin_claim, &self.team_claim]
    }
}

/// The person a verified token's `payload` names: the user from the user claim (else
/// `subject`), an admin when the admin claim holds an admin value, in the teams the team claim
/// names.
pub(super) fn person_of(
    payload: &Value,
    subject: &str,
    rules: &ClaimRules,
) -> Result<Person, OidcError> {
    let user = payload
        .get(&rules.user_claim)
        .and_then(Value::as_str)
        .filter(|u| !u.trim().is_empty())
        .unwrap_or(subject);
    let user = app::domain::UserId::parse(user, "user")
        .map_err(|e| OidcError::NoUser(format!("{user:?}: {}", e.message)))?;
    // Names the audit log gives the server's own actors, and the mark of unverified claims:
    // nobody signs in as one of them.
    if RESERVED_NAMES.contains(&user.as_str()) || user.as_str().starts_with("user:") {
        return Err(OidcError::NoUser(format!(
            "{:?} is a name StreamHub keeps for itself",
            user.as_str()
        )));
    }
    let admin =
        values(payload.get(&rules.admin_claim)).any(|v| rules.admin_values.iter().any(|a| a == v));
    Ok(Person {
        user: user.to_string(),
        admin,
        subject: subject.to_owned(),
        teams: teams_of(payload.get(&rules.team_claim), &rules.team_prefix)
            .into_iter()
            // The admin group is a role, not a team (when both come from one claim).
            .filter(|t| !rules.admin_values.iter().any(|a| a == t.as_str()))
            .collect(),
    })
}

/// The text values of a claim that is a string or a list (other values are ignored).
fn values(claim: Option<&Value>) -> impl Iterator<Item = &str> {
    let list: &[Value] = match claim {
        Some(Value::Array(values)) => values,
        Some(value) => std::slice::from_ref(value),
        None => &[],
    };
    list.iter().filter_map(Value::as_str)
}

/// The teams a claim names: its values with `prefix` (which is taken off), each a valid team
/// name, each once, at most [`TEAMS_MAX`] (sorted, so that a session's teams read the same
/// whatever order the provider sends them in).
fn teams_of(claim: Option<&Value>, prefix: &str) -> Vec<TeamName> {
    let mut teams: Vec<TeamName> = values(claim)
        .filter_map(|v| v.strip_prefix(prefix))
        .filter_map(|v| TeamName::parse(v, "team").ok())
        .collect();
    teams.sort();
    teams.dedup();
    if teams.len() > TEAMS_MAX {
        tracing::warn!(
            teams = teams.len(),
            kept = TEAMS_MAX,
            "the team claim names more teams than StreamHub counts: the first are kept"
        );
        teams.truncate(TEAMS_MAX);
    }
    teams
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(team_prefix: &str) -> ClaimRules {
        ClaimRules {
            user_claim: "preferred_username".into(),
            admin_claim: "groups".into(),
            admin_values: vec!["streamhub-admins".into()],
            team_claim: "groups".into(),
            team_prefix: team_prefix.into(),
        }
    }

    fn person(payload: Value) -> Result<Person, OidcError> {
        person_of(&payload, "sub-1", &rules(""))
    }

    #[test]
    fn the_user_claim_names_the_user_and_the_admin_claim_makes_admins() {
        let ana = person(json!({"preferred_username": "ana", "groups": ["x", "streamhub-admins"]}));
        assert_eq!(
            ana.unwrap(),
            Person {
                user: "ana".into(),
                admin: true,
                subject: "sub-1".into(),
                teams: teams(&["x"]),
            }
        );
        let ben = person(json!({"preferred_username": "ben", "groups": ["streamhub-users"]}));
        assert_eq!(
            ben.unwrap(),
            Person {
                user: "ben".into(),
                admin: false,
                subject: "sub-1".into(),
                teams: teams(&["streamhub-users"]),
            }
        );
        let single = person(json!({"preferred_username": "cy", "groups": "streamhub-admins"}));
        assert!(single.unwrap().admin);
        // No user claim: the subject.
        let anonymous = person(json!({"groups": []})).unwrap();
        assert_eq!(anonymous.user, "sub-1");
    }

    fn teams(names: &[&str]) -> Vec<TeamName> {
        names
            .iter()
            .map(|n| TeamName::parse(n, "team").unwrap())
            .collect()
    }

    #[test]
    fn teams_come_from_their_claim_with_the_prefix_taken_off() {
        let payload = json!({"preferred_username": "ana",
            "groups": ["team-payments", "streamhub-admins", "team-eu", "team-payments", "team- ", 7]});
        let ana = person_of(&payload, "s", &rules("team-")).unwrap();
        assert_eq!(
            ana.teams,
            teams(&["eu", "payments"]),
            "sorted, once each, blanks dropped"
        );
        assert!(
            ana.admin,
            "the admin claim is read whatever the team prefix"
        );
        let one = person_of(&json!({"groups": "team-web"}), "s", &rules("team-")).unwrap();
        assert_eq!(one.teams, teams(&["web"]), "a single string is one team");
        let none = person_of(&json!({"preferred_username": "cai"}), "s", &rules("")).unwrap();
        assert!(none.teams.is_empty());
        let many: Vec<String> = (0..100).map(|i| format!("t{i:03}")).collect();
        let crowd = person_of(&json!({ "groups": many }), "s", &rules("")).unwrap();
        assert_eq!(crowd.teams.len(), TEAMS_MAX);
    }

    #[test]
    fn names_the_server_keeps_for_itself_are_refused() {
        for name in ["admin", "producer", "user:ana"] {
            assert!(
                matches!(
                    person(json!({"preferred_username": name})),
                    Err(OidcError::NoUser(_))
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn a_user_id_streamhub_cannot_take_is_refused() {
        let long = "x".repeat(500);
        assert!(matches!(
            person(json!({"preferred_username": long})),
            Err(OidcError::NoUser(_))
        ));
    }

    #[test]
    fn a_compact_tokens_payload_reads_as_json() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"sub":"a"}"#);
        assert_eq!(
            token_payload(&format!("e30.{payload}.sig")),
            Some(json!({"sub": "a"}))
        );
        assert_eq!(token_payload("not a token"), None);
    }
}
