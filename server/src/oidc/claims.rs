//! What a verified ID token says of a person: the user id the configured claim names (else the
//! subject) and whether the configured admin claim holds an admin value. Reads claims only
//! after the token was verified; verifies nothing itself.

use super::{OidcError, Person};
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

/// The person a verified token's `payload` names: the user from `user_claim` (else `subject`),
/// an admin when `admin_claim` (a string or a list of them) holds one of `admin_values`.
pub(super) fn person_of(
    payload: &Value,
    subject: &str,
    user_claim: &str,
    admin_claim: &str,
    admin_values: &[String],
) -> Result<Person, OidcError> {
    let user = payload
        .get(user_claim)
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
    let holds = |v: &Value| {
        v.as_str()
            .is_some_and(|v| admin_values.iter().any(|a| a == v))
    };
    let admin = match payload.get(admin_claim) {
        Some(Value::Array(values)) => values.iter().any(holds),
        Some(value) => holds(value),
        None => false,
    };
    Ok(Person {
        user: user.to_string(),
        admin,
        subject: subject.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn person(payload: Value) -> Result<Person, OidcError> {
        let admins = ["streamhub-admins".to_owned()];
        person_of(&payload, "sub-1", "preferred_username", "groups", &admins)
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
            }
        );
        let ben = person(json!({"preferred_username": "ben", "groups": ["streamhub-users"]}));
        assert_eq!(
            ben.unwrap(),
            Person {
                user: "ben".into(),
                admin: false,
                subject: "sub-1".into(),
            }
        );
        let single = person(json!({"preferred_username": "cy", "groups": "streamhub-admins"}));
        assert!(single.unwrap().admin);
        // No user claim: the subject.
        let anonymous = person(json!({"groups": []})).unwrap();
        assert_eq!(anonymous.user, "sub-1");
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
