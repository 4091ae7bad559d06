//! Signing people in through an OpenID Connect provider (`STREAMHUB_AUTH=oidc`): the
//! authorization code flow with PKCE, the provider found by discovery, and an ID token verified
//! (signature against the provider's keys, issuer, audience, expiry, nonce) before anything in it
//! is believed. What comes out is a [`Person`]: the user id the configured claim names, and
//! whether the configured claim makes them an admin.
//!
//! It knows nothing of axum or cookies: `http::oidc` carries the pending login through the
//! browser (sealed by [`crate::sessions`]) and turns a [`Person`] into a session.

mod claims;
mod device;

pub use device::{DevicePoll, DeviceStart};

use crate::secrets::Secret;
use claims::{person_of, token_payload, ClaimRules};
use openidconnect::{
    core::{
        CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
        CoreClientAuthMethod, CoreGrantType, CoreIdToken, CoreJsonWebKey,
        CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
        CoreResponseType, CoreSubjectIdentifierType,
    },
    AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    DeviceAuthorizationUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How StreamHub knows who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Anyone names themself (`user_id`) and one admin token decides, as the REST contract has it.
    Open,
    /// People sign in through an OpenID Connect provider; every action is a verified person's.
    Oidc,
}

impl AuthMode {
    /// The word `/api/session` and the logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Open => "open",
            AuthMode::Oidc => "oidc",
        }
    }
}

/// How people sign in, from flags and env vars (docs/configuration.md lists them).
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// `open` (anyone names themself, as the REST contract has it) or `oidc` (sign-in through an
    /// OpenID Connect provider).
    #[arg(long = "auth", env = "STREAMHUB_AUTH", value_enum, default_value_t = AuthMode::Open)]
    pub mode: AuthMode,

    /// Lets `open` mode listen on an address other machines can reach. Open mode believes
    /// whoever a caller says they are: anyone who reaches the server streams every active topic,
    /// unsubscribes anyone and moves anyone's stored positions. Without this, a server in `open`
    /// mode refuses to start on any address but loopback; use `oidc` on a network, or set this
    /// where only trusted machines reach it.
    #[arg(long, env = "STREAMHUB_OPEN_ON_NETWORK", default_value_t = false,
          action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub open_on_network: bool,

    /// The provider's issuer URL (discovery reads `<issuer>/.well-known/openid-configuration`).
    #[arg(long, env = "STREAMHUB_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// The client id StreamHub is registered under at the provider.
    #[arg(long, env = "STREAMHUB_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,

    /// The client's secret (none for a public client).
    #[arg(long, env = "STREAMHUB_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,

    /// Where the provider sends people back: `<StreamHub's public URL>/auth/callback`, as
    /// registered at the provider.
    #[arg(long, env = "STREAMHUB_OIDC_REDIRECT_URL")]
    pub oidc_redirect_url: Option<String>,

    /// The ID token claim that names the user (`sub` when the token lacks it).
    #[arg(
        long,
        env = "STREAMHUB_OIDC_USER_CLAIM",
        default_value = "preferred_username"
    )]
    pub oidc_user_claim: String,

    /// The ID token claim that carries roles or groups.
    #[arg(long, env = "STREAMHUB_OIDC_ADMIN_CLAIM", default_value = "groups")]
    pub oidc_admin_claim: String,

    /// Values of that claim that make someone an admin (comma-separated).
    #[arg(
        long,
        env = "STREAMHUB_OIDC_ADMIN_VALUES",
        default_value = "streamhub-admins",
        value_delimiter = ','
    )]
    pub oidc_admin_values: Vec<String>,

    /// The ID token (or userinfo) claim that names a person's teams: the teams that own
    /// topics and decide who reads them. A string or a list of strings.
    #[arg(long, env = "STREAMHUB_OIDC_TEAM_CLAIM", default_value = "groups")]
    pub oidc_team_claim: String,

    /// Only values of the team claim that start with this are teams, named without it
    /// (`team-` makes `team-payments` the team `payments` and ignores `streamhub-admins`).
    /// Empty: every value is a team.
    #[arg(long, env = "STREAMHUB_OIDC_TEAM_PREFIX", default_value = "")]
    pub oidc_team_prefix: String,

    /// Offer the OAuth device flow to `streamhub-consumer login` (the provider must offer it
    /// and StreamHub's client be confidential). Off by default: whoever starts a device
    /// sign-in gets a token for whoever confirms its code, so a code sent to someone else is a
    /// phishing lure.
    #[arg(long, env = "STREAMHUB_OIDC_DEVICE_FLOW", default_value_t = false,
          action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub oidc_device_flow: bool,

    /// Four-eyes approval: an admin may not approve or reject a topic they requested themself
    /// (applies to people known by name: `oidc` sessions; the admin token is nobody in particular).
    #[arg(long, env = "STREAMHUB_FOUR_EYES", default_value_t = false,
          action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub four_eyes: bool,

    /// The name the sign-in button shows ("Sign in with <name>"); the issuer's host by default.
    #[arg(long, env = "STREAMHUB_OIDC_PROVIDER_NAME")]
    pub oidc_provider_name: Option<String>,
}

/// Why a sign-in did not happen; each says what to do, none carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider could not be reached or described itself wrongly: {0}")]
    Discovery(String),
    #[error("the identity provider refused the sign-in: {0}")]
    Exchange(String),
    #[error("the identity provider sent no ID token")]
    NoIdToken,
    #[error("the ID token is not valid: {0}")]
    InvalidToken(String),
    #[error("the ID token names nobody StreamHub can use: {0}")]
    NoUser(String),
    #[error("{user:?} is another account's name at the identity provider (StreamHub knows it by another subject); ask an admin")]
    NameTaken { user: String },
    #[error("the metadata store is unavailable: {0}")]
    Store(String),
}

/// A person the provider vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Their user id in StreamHub (from the configured claim).
    pub user: String,
    /// Whether the configured claim makes them an admin.
    pub admin: bool,
    /// Who the provider says they are, for good (`sub`): what their user id is bound to.
    pub subject: String,
    /// Their teams, from the configured team claim.
    pub teams: Vec<app::access::TeamName>,
}

impl Person {
    /// Binds the person's user id to their subject at its first sign-in, and refuses a later
    /// one by another subject: the user claim (`preferred_username` by default) is one some
    /// providers let people change, and a renamed account must not become someone else.
    pub async fn bind(&self, store: &crate::store::Store) -> Result<(), OidcError> {
        let bound = store
            .bind_identity(&self.user, &self.subject, &self.teams)
            .await
            .map_err(|e| OidcError::Store(e.to_string()))?;
        match bound == self.subject {
            true => Ok(()),
            false => Err(OidcError::NameTaken {
                user: self.user.clone(),
            }),
        }
    }
}

/// A sign-in on its way through the provider: what the callback checks the answer against.
/// Travels sealed in a cookie, never readable or changeable by the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    /// The `state` the provider must send back (CSRF).
    pub state: String,
    /// The nonce the ID token must carry (replay).
    pub nonce: String,
    /// The PKCE verifier the code exchange proves possession with.
    pub verifier: String,
    /// The local path to return to.
    pub next: String,
}

/// The discovery document's field for the device flow (RFC 8628), which the core set lacks.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct DeviceEndpoint {
    /// Read as text: a malformed value must not fail the discovery the browser's sign-in needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device_authorization_endpoint: Option<String>,
}

impl AdditionalProviderMetadata for DeviceEndpoint {}

/// The provider's discovery document, with its device endpoint when it has one.
type Metadata = ProviderMetadata<
    DeviceEndpoint,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// What discovery found: the client, and the endpoints the device flow posts to itself.
#[derive(Clone)]
struct Discovered {
    at: Instant,
    client: DiscoveredClient,
    device: Option<DeviceAuthorizationUrl>,
    token: Option<TokenUrl>,
    /// Where the provider answers claims for an access token (OpenID Connect Core 5.3).
    userinfo: Option<openidconnect::url::Url>,
}

/// The client with the provider's endpoints, as discovery left it.
type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Discovery is read again after this long, so that rotated signing keys are picked up.
const REDISCOVER_AFTER: Duration = Duration::from_secs(600);

/// An ID token that does not verify makes discovery (and so the provider's keys) be read again
/// at once, for a provider that rotated its signing key, but not more often than this: forged
/// tokens must not turn the server into a client hammering the provider.
const REDISCOVER_AT_MOST_EVERY: Duration = Duration::from_secs(10);

/// The configured provider, discovered on first use (and again every [`REDISCOVER_AFTER`]):
/// the server starts, and keeps serving, while the provider is away.
pub struct Oidc {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<Secret>,
    redirect: RedirectUrl,
    claims: ClaimRules,
    /// What the sign-in button calls the provider.
    pub provider_name: String,
    /// Whether `streamhub-consumer login` may use the device flow.
    device_flow: bool,
    http: reqwest::Client,
    discovered: Mutex<Option<Discovered>>,
}

impl Oidc {
    /// The provider `args` describe; `Err` names the missing or malformed setting.
    pub fn new(args: &AuthArgs) -> Result<Self, String> {
        let required = |value: &Option<String>, name: &str| {
            value
                .clone()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("STREAMHUB_AUTH=oidc needs {name}"))
        };
        let issuer = IssuerUrl::new(required(&args.oidc_issuer, "STREAMHUB_OIDC_ISSUER")?)
            .map_err(|e| format!("STREAMHUB_OIDC_ISSUER: {e}"))?;
        let redirect = RedirectUrl::new(required(
            &args.oidc_redirect_url,
            "STREAMHUB_OIDC_REDIRECT_URL",
        )?)
        .map_err(|e| format!("STREAMHUB_OIDC_REDIRECT_URL: {e}"))?;
        let client_id = ClientId::new(required(&args.oidc_client_id, "STREAMHUB_OIDC_CLIENT_ID")?);
        // The device code travels to the CLI signed, not encrypted: it must be of no use
        // without StreamHub's own credentials.
        if args.oidc_device_flow && args.oidc_client_secret.is_none() {
            return Err("STREAMHUB_OIDC_DEVICE_FLOW needs a confidential client \
                        (STREAMHUB_OIDC_CLIENT_SECRET)"
                .into());
        }
        let provider_name = args.oidc_provider_name.clone().unwrap_or_else(|| {
            issuer
                .url()
                .host_str()
                .unwrap_or("your identity provider")
                .to_owned()
        });
        let http = reqwest::Client::builder()
            // Following redirects would let a provider's answer point the server anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("the HTTP client for the identity provider: {e}"))?;
        Ok(Self {
            issuer,
            client_id,
            client_secret: args.oidc_client_secret.clone().map(Secret::new),
            redirect,
            claims: ClaimRules {
                user_claim: args.oidc_user_claim.clone(),
                admin_claim: args.oidc_admin_claim.clone(),
                admin_values: args.oidc_admin_values.clone(),
                team_claim: args.oidc_team_claim.clone(),
                team_prefix: args.oidc_team_prefix.clone(),
            },
            provider_name,
            device_flow: args.oidc_device_flow,
            http,
            discovered: Mutex::new(None),
        })
    }

    /// The client for the provider, discovering it if not known or known for too long.
    async fn client(&self) -> Result<DiscoveredClient, OidcError> {
        Ok(self.discovered().await?.client)
    }

    /// What discovery found, discovering again if not known or known for too long.
    async fn discovered(&self) -> Result<Discovered, OidcError> {
        self.discover(false).await
    }

    /// What discovery found; with `again`, read anew unless it was read a moment ago. The lock
    /// is never held while the provider is asked (up to its 10 s timeout): sign-ins that find a
    /// fresh answer go ahead meanwhile.
    async fn discover(&self, again: bool) -> Result<Discovered, OidcError> {
        let known = self
            .discovered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(known) = known {
            let age = known.at.elapsed();
            let wanted_anew = again && age >= REDISCOVER_AT_MOST_EVERY;
            if age < REDISCOVER_AFTER && !wanted_anew {
                return Ok(known);
            }
        }
        let metadata = Metadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| OidcError::Discovery(e.to_string()))?;
        let device = metadata
            .additional_metadata()
            .device_authorization_endpoint
            .as_deref()
            .and_then(|url| DeviceAuthorizationUrl::new(url.to_owned()).ok());
        let token = metadata.token_endpoint().cloned();
        let userinfo = metadata.userinfo_endpoint().map(|u| u.url().clone());
        let client = CoreClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            self.client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose().to_owned())),
        )
        .set_redirect_uri(self.redirect.clone());
        let known = Discovered {
            at: Instant::now(),
            client,
            device,
            token,
            userinfo,
        };
        *self.discovered.lock().unwrap_or_else(|p| p.into_inner()) = Some(known.clone());
        Ok(known)
    }

    /// Where to send the browser to sign in, and what the callback must check; `next` is the
    /// local path to return to afterwards.
    pub async fn begin(&self, next: String) -> Result<(String, PendingLogin), OidcError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            next,
        };
        Ok((url.to_string(), pending))
    }

    /// The person the provider's answer (`code`) vouches for: the code exchanged with the PKCE
    /// verifier, the ID token verified. The caller has checked `state` already.
    pub async fn finish(&self, code: String, pending: &PendingLogin) -> Result<Person, OidcError> {
        let client = self.client().await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| OidcError::Discovery(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Exchange(e.to_string()))?;
        let id_token = response.id_token().ok_or(OidcError::NoIdToken)?;
        let access_token = response.access_token().secret().clone();
        self.person_in(id_token, Some(&pending.nonce), Some(&access_token))
            .await
    }

    /// The person `id_token` names once verified (signature, issuer, audience, expiry, and
    /// `nonce` when the flow sent one), with the claims the ID token lacks read from the
    /// provider's userinfo endpoint for `access_token`: providers that follow OpenID Connect
    /// Core 5.4 return scope claims (`preferred_username`, `groups`) there, not in the ID token
    /// of the code flow.
    async fn person_in(
        &self,
        id_token: &CoreIdToken,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> Result<Person, OidcError> {
        let verify = |discovered: &Discovered| -> Result<String, OidcError> {
            let verifier = discovered.client.id_token_verifier();
            let claims = match nonce {
                Some(nonce) => id_token.claims(&verifier, &Nonce::new(nonce.to_owned())),
                None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
            }
            .map_err(|e| OidcError::InvalidToken(e.to_string()))?;
            Ok(claims.subject().as_str().to_owned())
        };
        let mut discovered = self.discovered().await?;
        let subject = match verify(&discovered) {
            Ok(subject) => subject,
            // Perhaps signed with a key the provider published since we last read its keys
            // (a rotation): read them again (at most every 10 s) and try once more.
            Err(first) => {
                let again = self.discover(true).await?;
                if again.at == discovered.at {
                    return Err(first);
                }
                discovered = again;
                verify(&discovered)?
            }
        };
        // The token is verified: its payload (signed as a whole) can be read for the claims
        // the standard set lacks (groups, roles).
        let mut payload = token_payload(&id_token.to_string())
            .ok_or_else(|| OidcError::InvalidToken("its payload is not JSON".into()))?;
        let lacking = self
            .claims
            .claims()
            .into_iter()
            .any(|claim| payload.get(claim).is_none());
        if let (true, Some(url), Some(access_token)) = (lacking, &discovered.userinfo, access_token)
        {
            let userinfo = self.userinfo(url, access_token, &subject).await?;
            merge_missing(&mut payload, userinfo);
        }
        person_of(&payload, &subject, &self.claims)
    }

    /// The provider's userinfo answer for `access_token`, which must name `subject` (else it is
    /// someone else's and nothing in it is believed).
    async fn userinfo(
        &self,
        url: &openidconnect::url::Url,
        access_token: &str,
        subject: &str,
    ) -> Result<serde_json::Value, OidcError> {
        let unavailable = |e: String| OidcError::Discovery(format!("the userinfo endpoint: {e}"));
        let response = self
            .http
            .get(url.clone())
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(unavailable(format!("answered {status}")));
        }
        let claims: serde_json::Value = response
            .json()
            .await
            .map_err(|e| unavailable(format!("its answer is not JSON claims: {e}")))?;
        match claims.get("sub").and_then(serde_json::Value::as_str) {
            Some(sub) if sub == subject => Ok(claims),
            _ => Err(OidcError::InvalidToken(
                "the userinfo answer names another subject than the ID token".into(),
            )),
        }
    }
}

/// Adds to `payload` the claims of `extra` it does not have: what the ID token says stands.
fn merge_missing(payload: &mut serde_json::Value, extra: serde_json::Value) {
    let (Some(payload), serde_json::Value::Object(extra)) = (payload.as_object_mut(), extra) else {
        return;
    };
    for (claim, value) in extra {
        payload.entry(claim).or_insert(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_adds_only_the_claims_the_id_token_lacks() {
        let mut payload = serde_json::json!({"sub": "s1", "preferred_username": "ana"});
        merge_missing(
            &mut payload,
            serde_json::json!({"sub": "s1", "preferred_username": "mallory", "groups": ["admins"]}),
        );
        assert_eq!(
            payload,
            serde_json::json!({"sub": "s1", "preferred_username": "ana", "groups": ["admins"]})
        );
    }

    #[test]
    fn the_device_flow_needs_a_confidential_client() {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            auth: AuthArgs,
        }
        let args = |extra: &[&str]| {
            let base = [
                "streamhub",
                "--auth=oidc",
                "--oidc-issuer=https://idp.example",
                "--oidc-client-id=streamhub",
                "--oidc-redirect-url=https://streamhub.example/auth/callback",
                "--oidc-device-flow",
            ];
            <Flags as clap::Parser>::parse_from(base.iter().chain(extra)).auth
        };
        let refused = Oidc::new(&args(&[])).err().unwrap_or_default();
        assert!(
            refused.contains("STREAMHUB_OIDC_CLIENT_SECRET"),
            "{refused}"
        );
        assert!(Oidc::new(&args(&["--oidc-client-secret=s"])).is_ok());
    }
}
