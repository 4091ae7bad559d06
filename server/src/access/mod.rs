//! Who may read what: the rules that decide, for one viewer and one topic, whether the topic
//! is seen at all, whether its records may be read, and whether they are read masked. Every
//! place a topic or a record leaves the server (REST answers, the relay's streams, searches,
//! exports) asks here, so that the rules are written once.
//!
//! - **Viewer**: the admin (token or admin session), a person with their teams (`oidc` mode,
//!   teams from the identity provider's claim), or anyone (`open` mode: no teams).
//! - **Owners** of a topic: the members of its owning team, or the person who owns it when it
//!   was requested by someone without a team. Admins are not owners, but see everything clear.
//! - **Levels** (`app::access::AccessLevel`): `open` topics are read by anyone; `approval`
//!   topics by owners, admins and people whose subscription the owners approved; `private`
//!   ones by owners and admins only, and to anyone else they do not exist.
//! - **Masks** apply to everyone who is neither an owner nor an admin ([`masking`]).
//!
//! | module | job |
//! | --- | --- |
//! | this file | [`Viewer`], [`Ownership`] and the decisions |
//! | [`masking`] | masked fields applied to a record value, the deployment's hash key |

pub mod masking;

use app::{
    access::{AccessLevel, TeamName},
    domain::FieldError,
};

/// Who is looking at a topic or its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// The admin token: nobody in particular, sees everything, clear.
    AdminToken,
    /// A person the server verified, with their teams as the identity provider last named them;
    /// `admin` when the provider makes them one (or their token is admin-scoped).
    Person {
        user: String,
        teams: Vec<TeamName>,
        admin: bool,
    },
    /// Someone the server did not verify (`open` mode): every topic there is `open`, and masks
    /// apply.
    Anyone,
}

/// Who owns a topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    /// The owning team, if a team owns it.
    pub team: Option<String>,
    /// The owning person, when it was requested by someone without a team.
    pub user: Option<String>,
}

impl Ownership {
    /// Who owns `topic`, as its answer says.
    pub fn of(topic: &app::wire::Topic) -> Ownership {
        Ownership {
            team: topic.owner_team.clone(),
            user: topic.owner_user.clone(),
        }
    }

    /// Who owns an active topic, as the active list says.
    pub fn of_active(topic: &app::wire::ActiveTopic) -> Ownership {
        Ownership {
            team: topic.owner_team.clone(),
            user: topic.owner_user.clone(),
        }
    }

    /// Whether nobody owns it (topics from before ownership, adopted ones): a team may claim it.
    pub fn is_unowned(&self) -> bool {
        self.team.is_none() && self.user.is_none()
    }
}

impl std::fmt::Display for Ownership {
    /// `team:payments`, `user:ana` or `none`, as the audit log writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.team, &self.user) {
            (Some(team), _) => write!(f, "team:{team}"),
            (None, Some(user)) => write!(f, "user:{user}"),
            (None, None) => f.write_str("none"),
        }
    }
}

/// How a viewer reads a topic's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Owners and admins: every field as written.
    Clear,
    /// Everyone else: the topic's masks applied.
    Masked,
}

impl Viewer {
    /// Whether the viewer is an admin (who acts for every topic's owners).
    pub fn is_admin(&self) -> bool {
        match self {
            Viewer::AdminToken => true,
            Viewer::Person { admin, .. } => *admin,
            Viewer::Anyone => false,
        }
    }

    /// Whether the viewer is one of the topic's owners.
    pub fn owns(&self, owner: &Ownership) -> bool {
        match self {
            Viewer::Person { user, teams, .. } => {
                owner.user.as_deref() == Some(user.as_str())
                    || owner
                        .team
                        .as_deref()
                        .is_some_and(|team| teams.iter().any(|t| t.as_str() == team))
            }
            Viewer::AdminToken | Viewer::Anyone => false,
        }
    }

    /// Whether the viewer may act for the topic's owners (decide its subscriptions, produce
    /// to it, deactivate it): its owners and the admin.
    pub fn acts_for_owners(&self, owner: &Ownership) -> bool {
        self.is_admin() || self.owns(owner)
    }

    /// Whether the topic exists for the viewer: private topics are hidden from everyone but
    /// their owners and the admin.
    pub fn sees(&self, access: AccessLevel, owner: &Ownership) -> bool {
        access != AccessLevel::Private || self.acts_for_owners(owner)
    }

    /// Whether `topic` exists for the viewer (its level and owners as its answer says).
    pub fn sees_topic(&self, topic: &app::wire::Topic) -> bool {
        self.sees(topic.access, &Ownership::of(topic))
    }

    /// Whether the viewer may read the topic's records, given whether the owners approved
    /// their subscription (`approved`; counts for `approval` topics only: a private topic is
    /// read by its owners and the admin alone, as nobody else knows of it).
    pub fn reads(&self, access: AccessLevel, owner: &Ownership, approved: bool) -> bool {
        match access {
            AccessLevel::Open => true,
            AccessLevel::Approval => approved || self.acts_for_owners(owner),
            AccessLevel::Private => self.acts_for_owners(owner),
        }
    }

    /// How the viewer reads the topic's records.
    pub fn audience(&self, owner: &Ownership) -> Audience {
        if self.acts_for_owners(owner) {
            Audience::Clear
        } else {
            Audience::Masked
        }
    }
}

/// Who owns a topic that `viewer` requests, naming `team` as its owner or not, at `access`:
///
/// - unverified callers (`open` mode) request `open` topics without an owner: there are no
///   teams to own or approve anything;
/// - a person names one of their teams (admins any team); without a name, their only team
///   owns it, or they themself when they have none; someone in several teams must choose;
/// - the admin token names any team, or none (then admins decide for it).
pub fn requested_ownership(
    viewer: &Viewer,
    team: Option<&str>,
    access: AccessLevel,
) -> Result<Ownership, FieldError> {
    let team = team.map(|t| TeamName::parse(t, "owner_team")).transpose()?;
    let owned_by = |team: TeamName| Ownership {
        team: Some(team.as_str().to_owned()),
        user: None,
    };
    match viewer {
        Viewer::Anyone => {
            if team.is_some() {
                return Err(FieldError::new(
                    "owner_team",
                    "this server knows no teams (open mode): leave it out",
                ));
            }
            if access != AccessLevel::Open {
                return Err(FieldError::new(
                    "access",
                    "this server lets everyone read every topic (open mode): only `open` is \
                     possible; sign-in through an identity provider governs reading",
                ));
            }
            Ok(Ownership::default())
        }
        Viewer::AdminToken => Ok(team.map(owned_by).unwrap_or_default()),
        Viewer::Person { user, teams, admin } => match team {
            Some(team) if *admin || teams.contains(&team) => Ok(owned_by(team)),
            Some(team) => Err(FieldError::new(
                "owner_team",
                format!("you are not in team {team:?}; yours: {}", listed(teams)),
            )),
            None => match &teams[..] {
                [] => Ok(Ownership {
                    team: None,
                    user: Some(user.clone()),
                }),
                [only] => Ok(owned_by(only.clone())),
                several => Err(FieldError::new(
                    "owner_team",
                    format!("name the owning team: one of {}", listed(several)),
                )),
            },
        },
    }
}

/// Teams as a sentence lists them.
fn listed(teams: &[TeamName]) -> String {
    if teams.is_empty() {
        return "none".to_owned();
    }
    teams
        .iter()
        .map(TeamName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(user: &str, teams: &[&str]) -> Viewer {
        Viewer::Person {
            user: user.to_owned(),
            teams: teams
                .iter()
                .map(|t| TeamName::parse(t, "team").unwrap())
                .collect(),
            admin: false,
        }
    }

    fn team(name: &str) -> Ownership {
        Ownership {
            team: Some(name.to_owned()),
            user: None,
        }
    }

    #[test]
    fn owners_are_the_team_or_the_person_and_admins_act_for_them() {
        let payments = team("payments");
        let ana = person("ana", &["payments", "eu"]);
        let ben = person("ben", &["web"]);
        assert!(ana.owns(&payments));
        assert!(!ben.owns(&payments));
        assert!(!Viewer::AdminToken.owns(&payments));
        assert!(Viewer::AdminToken.acts_for_owners(&payments));
        let cai_owns = Ownership {
            team: None,
            user: Some("cai".into()),
        };
        assert!(person("cai", &[]).owns(&cai_owns));
        assert!(
            !person("ana", &["cai"]).owns(&cai_owns),
            "a team named like a person is not them"
        );
        assert!(!Viewer::Anyone.owns(&payments));
    }

    #[test]
    fn each_level_decides_seeing_and_reading() {
        use AccessLevel::*;
        let owner = team("payments");
        let (ana, ben) = (person("ana", &["payments"]), person("ben", &["web"]));
        // (level, approved) → ben sees, ben reads
        for (level, approved, sees, reads) in [
            (Open, false, true, true),
            (Approval, false, true, false),
            (Approval, true, true, true),
            (Private, false, false, false),
            (Private, true, false, false),
        ] {
            assert_eq!(ben.sees(level, &owner), sees, "{level} {approved}");
            assert_eq!(
                ben.reads(level, &owner, approved),
                reads,
                "{level} {approved}"
            );
            for insider in [&ana, &Viewer::AdminToken] {
                assert!(insider.sees(level, &owner) && insider.reads(level, &owner, false));
            }
        }
    }

    #[test]
    fn masks_apply_to_all_but_owners_and_admins() {
        let owner = team("payments");
        assert_eq!(
            person("ana", &["payments"]).audience(&owner),
            Audience::Clear
        );
        assert_eq!(Viewer::AdminToken.audience(&owner), Audience::Clear);
        assert_eq!(person("ben", &["web"]).audience(&owner), Audience::Masked);
        assert_eq!(Viewer::Anyone.audience(&owner), Audience::Masked);
    }

    #[test]
    fn a_request_is_owned_by_the_named_team_the_only_team_or_the_person() {
        use AccessLevel::*;
        let owner = |viewer: &Viewer, team: Option<&str>| {
            requested_ownership(viewer, team, Approval).map(|o| o.to_string())
        };
        let ana = person("ana", &["eu", "payments"]);
        assert_eq!(owner(&ana, Some("payments")).unwrap(), "team:payments");
        let refused = owner(&ana, None).unwrap_err();
        assert_eq!(refused.field, "owner_team");
        assert!(refused.message.contains("eu, payments"), "{refused}");
        assert!(owner(&ana, Some("web")).is_err(), "not her team");
        assert_eq!(owner(&person("ben", &["web"]), None).unwrap(), "team:web");
        assert_eq!(owner(&person("cai", &[]), None).unwrap(), "user:cai");
        let boss = Viewer::Person {
            user: "boss".into(),
            teams: vec![],
            admin: true,
        };
        assert_eq!(
            owner(&boss, Some("web")).unwrap(),
            "team:web",
            "admins name any team"
        );
        assert_eq!(owner(&Viewer::AdminToken, None).unwrap(), "none");
        // Open mode: no teams, open topics only.
        assert!(requested_ownership(&Viewer::Anyone, None, Open)
            .unwrap()
            .is_unowned());
        assert_eq!(
            requested_ownership(&Viewer::Anyone, None, Private)
                .unwrap_err()
                .field,
            "access"
        );
        assert!(requested_ownership(&Viewer::Anyone, Some("x"), Open).is_err());
    }
}
