//! The server's half of an OpenID Connect sign-in: what `/auth/callback` believes.
//!
//! A stand-in provider on a loopback port answers discovery, its keys and the token endpoint,
//! and hands out whatever ID token a test wrote: one signed by a key it does not publish, one
//! that expired, one from another issuer, one for another client, one minted for another
//! sign-in, one not signed at all. Each must be refused, and the honest one accepted (so that
//! the refusals are the token's fault, not the set-up's). What a real provider enforces itself
//! (a replayed code, a code with the wrong PKCE verifier) is the browser suite's, against npm
//! `oidc-provider` (`end2end/tests/oidc.test.js`).

use crate::helpers::{spawn_app_with, TestApp};
use axum::{extract::State, routing::get, routing::post, Form, Json, Router};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use openidconnect::{
    core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey},
    JsonWebKeyId, PrivateSigningKey,
};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};
use streamhub::oidc::AuthMode;

const CLIENT_ID: &str = "streamhub-test";
const KEY_ID: &str = "k1";

/// What the stand-in provider hands out next, and what it was sent.
#[derive(Default)]
struct ProviderState {
    issuer: String,
    published: Value,
    id_token: Option<String>,
    token_requests: Vec<HashMap<String, String>>,
    /// What the userinfo endpoint answers (for the access token `opaque`).
    userinfo: Value,
}

type Shared = Arc<Mutex<ProviderState>>;

/// A provider on a loopback port whose token endpoint answers with a test's ID token.
struct StandInProvider {
    issuer: String,
    state: Shared,
    signer: CoreRsaPrivateSigningKey,
    forger: CoreRsaPrivateSigningKey,
}

fn key(file: &str) -> CoreRsaPrivateSigningKey {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let pem = std::fs::read_to_string(path).expect("test key");
    // The forger uses the same key id: only the signature can tell them apart.
    CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new(KEY_ID.into())))
        .expect("a PKCS#1 key")
}

impl StandInProvider {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let signer = key("oidc_test_key_a.pem");
        let state: Shared = Arc::new(Mutex::new(ProviderState {
            issuer: issuer.clone(),
            published: json!({ "keys": [signer.as_verification_key()] }),
            ..ProviderState::default()
        }));
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            issuer,
            state,
            signer,
            forger: key("oidc_test_key_b.pem"),
        }
    }

    /// An ID token of `claims`, signed by `key` (`None`: not signed, `alg: none`).
    fn mint(&self, claims: &Value, key: Option<&CoreRsaPrivateSigningKey>) -> String {
        let alg = if key.is_some() { "RS256" } else { "none" };
        let header = json!({ "alg": alg, "kid": KEY_ID, "typ": "JWT" });
        let encode = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        let input = format!("{}.{}", encode(&header), encode(claims));
        let signature = key.map_or_else(Vec::new, |key| {
            key.sign(
                &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                input.as_bytes(),
            )
            .expect("signed")
        });
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// Claims an honest provider would send for `user` in the sign-in with `nonce`.
    fn claims(&self, nonce: &str, user: &str, groups: &[&str]) -> Value {
        let now = unix_now();
        json!({
            "iss": self.issuer,
            "sub": format!("sub-{user}"),
            "aud": [CLIENT_ID],
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "preferred_username": user,
            "groups": groups,
        })
    }

    fn answer_with(&self, id_token: String) {
        self.state.lock().unwrap().id_token = Some(id_token);
    }

    fn last_token_request(&self) -> HashMap<String, String> {
        let state = self.state.lock().unwrap();
        state
            .token_requests
            .last()
            .cloned()
            .expect("a code exchange")
    }
}

async fn discovery(State(state): State<Shared>) -> Json<Value> {
    let issuer = state.lock().unwrap().issuer.clone();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks(State(state): State<Shared>) -> Json<Value> {
    Json(state.lock().unwrap().published.clone())
}

async fn token(
    State(state): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Json<Value> {
    let mut state = state.lock().unwrap();
    state.token_requests.push(form);
    Json(json!({
        "access_token": "opaque",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": state.id_token.clone(),
    }))
}

async fn userinfo(State(state): State<Shared>, headers: axum::http::HeaderMap) -> Json<Value> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    assert_eq!(
        bearer,
        Some("Bearer opaque"),
        "userinfo asked with the access token"
    );
    Json(state.lock().unwrap().userinfo.clone())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A server in `oidc` mode whose identity provider is `provider`.
async fn signing_in_through(provider: &StandInProvider) -> TestApp {
    let issuer = provider.issuer.clone();
    spawn_app_with(move |config| {
        config.auth.mode = AuthMode::Oidc;
        config.auth.oidc_issuer = Some(issuer.clone());
        config.auth.oidc_client_id = Some(CLIENT_ID.into());
        config.auth.oidc_client_secret = Some("client-secret".into());
        config.auth.oidc_redirect_url = Some("http://127.0.0.1:9/auth/callback".into());
    })
    .await
}

/// Who `GET /api/session` says the session cookie `session` is: the user, and whether an admin.
async fn signed_in_as(app: &TestApp, session: &str) -> (Option<String>, Option<bool>) {
    let info: Value = app
        .client
        .get(app.url("/api/session"))
        .header(header::COOKIE, session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        info["user"].as_str().map(str::to_owned),
        info["admin"].as_bool(),
    )
}

/// A sign-in begun at `/auth/login`: the browser's sealed cookie and what the provider was told.
struct SignIn {
    login_cookie: String,
    state: String,
    nonce: String,
    code_challenge: String,
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn begin(app: &TestApp) -> SignIn {
    let response = no_redirects()
        .get(app.url("/auth/login?next=/topics"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let login_cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let location = reqwest::Url::parse(
        response.headers()[header::LOCATION]
            .to_str()
            .expect("a location"),
    )
    .unwrap();
    let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["client_id"], CLIENT_ID);
    SignIn {
        login_cookie,
        state: query["state"].clone(),
        nonce: query["nonce"].clone(),
        code_challenge: query["code_challenge"].clone(),
    }
}

/// The browser back at `/auth/callback` with `code`: the session cookie it was given, or the
/// reason on the sign-in page it was sent to.
async fn finish(app: &TestApp, sign_in: &SignIn, code: &str) -> Result<String, String> {
    let response = no_redirects()
        .get(app.url(&format!(
            "/auth/callback?code={code}&state={}",
            sign_in.state
        )))
        .header(header::COOKIE, &sign_in.login_cookie)
        .send()
        .await
        .unwrap();
    let session = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("streamhub_session=") && !c.starts_with("streamhub_session=;"))
        .map(|c| c.split(';').next().unwrap().to_owned());
    match (response.status(), session) {
        (StatusCode::OK, Some(session)) => Ok(session),
        (status, None) if status.is_redirection() => {
            let to = response.headers()[header::LOCATION].to_str().unwrap();
            Err(to.trim_start_matches("/signin?error=").to_owned())
        }
        (status, session) => panic!("an answer that is neither: {status} {session:?}"),
    }
}

/// An ID token made for a sign-in in progress.
type Mint<'a> = Box<dyn Fn(&SignIn) -> String + 'a>;

#[tokio::test]
async fn only_an_id_token_the_provider_signed_for_this_sign_in_signs_anyone_in() {
    let provider = StandInProvider::start().await;
    let app = signing_in_through(&provider).await;

    // Each refused token, and why an honest provider would never send it.
    let refusals: Vec<(&str, &str, Mint)> = vec![
        (
            "signed by a key the provider does not publish",
            "Signature verification failed",
            Box::new(|s| {
                provider.mint(
                    &provider.claims(&s.nonce, "cara", &[]),
                    Some(&provider.forger),
                )
            }),
        ),
        (
            "not signed at all",
            "Signature verification failed",
            Box::new(|s| provider.mint(&provider.claims(&s.nonce, "cara", &[]), None)),
        ),
        (
            "expired",
            "Expired",
            Box::new(|s| {
                let mut claims = provider.claims(&s.nonce, "cara", &[]);
                claims["iat"] = json!(unix_now() - 900);
                claims["exp"] = json!(unix_now() - 600);
                provider.mint(&claims, Some(&provider.signer))
            }),
        ),
        (
            "from another issuer",
            "Invalid issuer",
            Box::new(|s| {
                let mut claims = provider.claims(&s.nonce, "cara", &[]);
                claims["iss"] = json!("https://idp.elsewhere.example");
                provider.mint(&claims, Some(&provider.signer))
            }),
        ),
        (
            "for another client",
            "Invalid audiences",
            Box::new(|s| {
                let mut claims = provider.claims(&s.nonce, "cara", &[]);
                claims["aud"] = json!(["another-app"]);
                provider.mint(&claims, Some(&provider.signer))
            }),
        ),
        (
            "minted for another sign-in (replayed)",
            "nonce mismatch",
            Box::new(|_| {
                provider.mint(
                    &provider.claims("an-old-nonce", "cara", &[]),
                    Some(&provider.signer),
                )
            }),
        ),
        (
            "naming a user the server keeps for itself",
            "keeps for itself",
            Box::new(|s| {
                provider.mint(
                    &provider.claims(&s.nonce, "admin", &[]),
                    Some(&provider.signer),
                )
            }),
        ),
    ];
    for (what, _, token) in &refusals {
        let sign_in = begin(&app).await;
        provider.answer_with(token(&sign_in));
        assert_eq!(
            finish(&app, &sign_in, "a-code").await,
            Err("not_verified".to_owned()),
            "an ID token {what}"
        );
    }

    // The honest token signs Cara in, as an admin by her group; the code was exchanged with the
    // PKCE verifier behind the challenge the provider was shown.
    let sign_in = begin(&app).await;
    provider.answer_with(provider.mint(
        &provider.claims(&sign_in.nonce, "cara", &["staff", "streamhub-admins"]),
        Some(&provider.signer),
    ));
    let session = finish(&app, &sign_in, "the-code")
        .await
        .expect("an honest ID token signs in");
    let exchange = provider.last_token_request();
    assert_eq!(exchange["code"], "the-code");
    assert_eq!(exchange["grant_type"], "authorization_code");
    let verifier = exchange.get("code_verifier").expect("a PKCE verifier");
    assert_eq!(
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        sign_in.code_challenge
    );
    assert_eq!(
        signed_in_as(&app, &session).await,
        (Some("cara".into()), Some(true))
    );

    // A callback whose state is not this browser's sign-in's is refused before any exchange;
    // so is one with no sign-in behind it.
    let exchanges = provider.state.lock().unwrap().token_requests.len();
    let mut other = begin(&app).await;
    other.state = "not-the-state".into();
    assert_eq!(
        finish(&app, &other, "a-code").await,
        Err("state_mismatch".into())
    );
    other.login_cookie = "streamhub_login=forged".into();
    assert_eq!(
        finish(&app, &other, "a-code").await,
        Err("login_expired".into())
    );
    assert_eq!(
        provider.state.lock().unwrap().token_requests.len(),
        exchanges
    );

    // The device flow is off unless asked for (and this provider offers none): the CLI is told
    // to use a token instead; a handle the server did not sign opens nothing.
    let device = |path: &'static str, body: Value| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url(path))
                .json(&body)
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = device("/auth/device", json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("device_sign_in_unavailable")),
        "{body}"
    );
    let (status, body) = device("/auth/device/token", json!({"handle": "forged.1.mac"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
        "{body}"
    );

    // Refusals were audited, each with its reason (the forged callbacks with no sign-in behind
    // them were not).
    let (_, audit) = app
        .as_admin(
            reqwest::Method::GET,
            "/api/audit?action=sign_in&limit=100",
            None,
        )
        .await;
    let mut denied: Vec<String> = audit
        .as_array()
        .expect("audit rows")
        .iter()
        .filter(|row| row["outcome"] == "denied")
        .map(|row| row["detail"].as_str().unwrap_or_default().to_owned())
        .collect();
    denied.reverse();
    assert_eq!(denied.len(), refusals.len() + 1, "{denied:?}");
    for ((what, reason, _), detail) in refusals.iter().zip(&denied) {
        assert!(detail.contains(reason), "an ID token {what}: {detail}");
    }
    assert!(
        denied[refusals.len()].contains("does not belong"),
        "{denied:?}"
    );
}

/// A provider that follows OpenID Connect Core 5.4 (npm `oidc-provider` at its defaults, Zitadel)
/// puts scope claims in the userinfo answer, not in the code flow's ID token: StreamHub reads
/// them there, believes them only for the ID token's subject, and lets the ID token's own
/// claims stand.
#[tokio::test]
async fn claims_missing_from_the_id_token_are_read_from_userinfo_for_the_same_subject() {
    let provider = StandInProvider::start().await;
    let app = signing_in_through(&provider).await;
    // An ID token with the standard claims only: who and which groups come from userinfo.
    let bare = |nonce: &str| {
        let mut claims = provider.claims(nonce, "dora", &[]);
        let claims_map = claims.as_object_mut().unwrap();
        claims_map.remove("preferred_username");
        claims_map.remove("groups");
        provider.mint(&claims, Some(&provider.signer))
    };
    provider.state.lock().unwrap().userinfo = json!({
        "sub": "sub-dora",
        "preferred_username": "dora",
        "groups": ["streamhub-admins"],
    });
    let sign_in = begin(&app).await;
    provider.answer_with(bare(&sign_in.nonce));
    let session = finish(&app, &sign_in, "a-code")
        .await
        .expect("signed in with claims from userinfo");
    assert_eq!(
        signed_in_as(&app, &session).await,
        (Some("dora".into()), Some(true))
    );

    // Userinfo about someone else: nothing in it is believed, and the sign-in is refused.
    provider.state.lock().unwrap().userinfo = json!({
        "sub": "sub-someone-else",
        "preferred_username": "eve",
        "groups": ["streamhub-admins"],
    });
    let sign_in = begin(&app).await;
    provider.answer_with(bare(&sign_in.nonce));
    assert_eq!(
        finish(&app, &sign_in, "a-code").await,
        Err("not_verified".to_owned())
    );

    // Claims the ID token carries stand, whatever userinfo says.
    provider.state.lock().unwrap().userinfo = json!({
        "sub": "sub-fay",
        "preferred_username": "mallory",
        "groups": ["streamhub-admins"],
    });
    let sign_in = begin(&app).await;
    let mut claims = provider.claims(&sign_in.nonce, "fay", &[]);
    claims.as_object_mut().unwrap().remove("groups");
    provider.answer_with(provider.mint(&claims, Some(&provider.signer)));
    let session = finish(&app, &sign_in, "a-code").await.expect("signed in");
    assert_eq!(
        signed_in_as(&app, &session).await,
        (Some("fay".into()), Some(true))
    );
}

/// The first sign-in binds a user id to the provider's subject: a later sign-in under the same
/// name by another subject (a renamed account, a recycled name) is refused and audited, and the
/// name's owner still signs in.
#[tokio::test]
async fn a_name_stays_with_the_account_that_first_signed_in_with_it() {
    let provider = StandInProvider::start().await;
    let app = signing_in_through(&provider).await;
    let sign_in_as = |subject: &'static str| {
        let (app, provider) = (&app, &provider);
        async move {
            let sign_in = begin(app).await;
            let mut claims = provider.claims(&sign_in.nonce, "gil", &[]);
            claims["sub"] = json!(subject);
            provider.answer_with(provider.mint(&claims, Some(&provider.signer)));
            finish(app, &sign_in, "a-code").await
        }
    };
    assert!(
        sign_in_as("sub-gil").await.is_ok(),
        "the first sign-in binds"
    );
    assert_eq!(
        sign_in_as("sub-impostor").await,
        Err("name_taken".to_owned()),
        "another account under the same name"
    );
    assert!(
        sign_in_as("sub-gil").await.is_ok(),
        "the name's owner still signs in"
    );
    let (_, audit) = app
        .as_admin(reqwest::Method::GET, "/api/audit?action=sign_in", None)
        .await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "denied"
                && e["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("another account"))),
        "the refusal is audited: {audit}"
    );
}

/// A provider that rotates its signing key: a token signed with the new key is refused at first
/// only if the keys were read a moment ago; otherwise StreamHub reads the keys again at once
/// (instead of failing sign-ins until its next rediscovery, minutes later) and signs the person
/// in.
#[tokio::test]
async fn a_rotated_signing_key_is_picked_up_at_the_first_token_it_signs() {
    let provider = StandInProvider::start().await;
    let app = signing_in_through(&provider).await;
    let sign_in = begin(&app).await;
    provider.answer_with(provider.mint(
        &provider.claims(&sign_in.nonce, "hal", &[]),
        Some(&provider.signer),
    ));
    assert!(finish(&app, &sign_in, "a-code").await.is_ok());

    // The provider rotates: it publishes the new key only, and signs with it.
    provider.state.lock().unwrap().published =
        json!({ "keys": [provider.forger.as_verification_key()] });
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    let sign_in = begin(&app).await;
    provider.answer_with(provider.mint(
        &provider.claims(&sign_in.nonce, "hal", &[]),
        Some(&provider.forger),
    ));
    assert!(
        finish(&app, &sign_in, "a-code").await.is_ok(),
        "a token signed with the rotated key"
    );
}
