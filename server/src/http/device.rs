//! The CLI's sign-in without a browser on its machine (`streamhub-consumer login`, `oidc` mode,
//! the provider offering the OAuth device flow, RFC 8628): `POST /auth/device` starts it at the
//! provider and answers with the code the person confirms in any browser; the CLI then asks
//! `POST /auth/device/token` every few seconds until the provider vouches for them, and gets a
//! personal access token of theirs.
//!
//! Off unless `STREAMHUB_OIDC_DEVICE_FLOW=true`: whoever starts a device sign-in gets a token for
//! whoever confirms its code, so a code sent to someone else is a phishing lure (RFC 8628 §5.4).
//!
//! StreamHub is the provider's client here, as in the browser's sign-in, and a confidential one:
//! the device code travels to the CLI signed (not encrypted) and is of no use without
//! StreamHub's client secret. Nothing is kept between asks, so any instance answers any of them.

use super::{
    auth::remote_addr,
    error::ApiError,
    json::ApiJson,
    oidc::{audit, oidc_mode_off, refused_sign_in},
    state::AppState,
};
use crate::{
    oidc::DevicePoll,
    sessions::unix_now,
    store::{Actor, AuditOutcome},
};
use app::wire::{DeviceSignIn, DeviceSignInPoll, DeviceSignInStatus, TokenScope};
use axum::{
    extract::State,
    http::{request::Parts, StatusCode},
    Json,
};

/// What a sealed device handle is for (a sealed value for another purpose does not open).
const DEVICE_PURPOSE: &str = "oidc device v1";
/// The longest a device sign-in may wait for its person, whatever the provider allows.
const DEVICE_MAX_SECONDS: u64 = 900;
/// How long the token a device sign-in makes lasts.
const DEVICE_TOKEN_DAYS: i64 = 30;

/// The provider could not be asked (down, or answered nonsense): a 503 that says so.
fn provider_unavailable(e: crate::oidc::OidcError) -> ApiError {
    tracing::warn!(error = %e, "device sign-in: the identity provider did not answer");
    ApiError::BadRequest {
        status: StatusCode::SERVICE_UNAVAILABLE,
        error: "provider_unavailable",
        message: "the identity provider cannot be reached right now: try again in a moment".into(),
    }
}

/// `POST /auth/device`: a device sign-in begun at the provider.
pub async fn start(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Json<DeviceSignIn>, ApiError> {
    let oidc = state.oidc.clone().ok_or_else(oidc_mode_off)?;
    // Each start asks the provider: it counts against the address's sign-in allowance.
    super::extract::take_sign_in(&state, super::auth::client_ip(&parts), "device sign-ins").await?;
    let Some(started) = oidc.device_start().await.map_err(provider_unavailable)? else {
        return Err(ApiError::NotFound {
            error: "device_sign_in_unavailable",
            message: "no device sign-in here (STREAMHUB_OIDC_DEVICE_FLOW, or the identity \
                      provider): make a token on the dashboard's Tokens page and run \
                      `login --with-token`"
                .into(),
        });
    };
    let lasts = started.expires_in.as_secs().clamp(1, DEVICE_MAX_SECONDS);
    let handle = state.sessions.seal(
        DEVICE_PURPOSE,
        &[&started.device_code],
        unix_now() + lasts as i64,
    );
    Ok(Json(DeviceSignIn {
        handle,
        user_code: started.user_code,
        verification_uri: started.verification_uri,
        verification_uri_complete: started.verification_uri_complete,
        expires_in: lasts,
        interval: started.interval.as_secs().max(1),
    }))
}

/// `POST /auth/device/token {"handle"}`: asks the provider once; when the person has confirmed,
/// makes them a `write` token (for 30 days) and hands it over.
pub async fn token(
    State(state): State<AppState>,
    parts: Parts,
    ApiJson(poll): ApiJson<DeviceSignInPoll>,
) -> Result<Json<DeviceSignInStatus>, ApiError> {
    let oidc = state.oidc.clone().ok_or_else(oidc_mode_off)?;
    super::extract::take_sign_in(&state, super::auth::client_ip(&parts), "device sign-ins").await?;
    let device_code = state
        .sessions
        .unseal(DEVICE_PURPOSE, &poll.handle, unix_now())
        .and_then(|fields| <[String; 1]>::try_from(fields).ok())
        .map(|[code]| code)
        .ok_or(ApiError::Unauthenticated(
            "that device sign-in has expired or is not this server's: run login again",
        ))?;
    let status = |word: &str| DeviceSignInStatus {
        status: word.to_owned(),
        user_id: None,
        token: None,
    };
    let anonymous = Actor::new("anonymous", remote_addr(&parts));
    let person = match oidc.device_poll(&device_code).await {
        Ok(DevicePoll::Pending) => return Ok(Json(status("pending"))),
        Ok(DevicePoll::SlowDown) => return Ok(Json(status("slow_down"))),
        Ok(DevicePoll::Ended(why)) => {
            refused(&state, &parts, &anonymous, &why).await;
            return Err(if why == "access_denied" {
                ApiError::Forbidden("the sign-in was refused at the identity provider")
            } else {
                ApiError::Unauthenticated(
                    "the code expired before it was confirmed: run login again",
                )
            });
        }
        Err(crate::oidc::OidcError::Discovery(e)) => {
            return Err(provider_unavailable(crate::oidc::OidcError::Discovery(e)))
        }
        Err(e) => {
            // A used or unknown code, or an ID token that does not verify.
            refused(&state, &parts, &anonymous, &e.to_string()).await;
            return Err(ApiError::Unauthenticated(
                "the identity provider did not vouch for this sign-in: run login again",
            ));
        }
        Ok(DevicePoll::Done(person)) => person,
    };
    if let Err(e) = person.bind(&state.store).await {
        return Err(match e {
            crate::oidc::OidcError::NameTaken { .. } => {
                // Not audited as the name's owner: the refused is someone else.
                refused(&state, &parts, &anonymous, &e.to_string()).await;
                ApiError::Forbidden(
                    "this name belongs to another account at the identity provider; ask an admin",
                )
            }
            other => ApiError::Store(crate::store::StoreError::Unavailable(other.to_string())),
        });
    }
    let actor = Actor::new(&person.user, remote_addr(&parts));
    let role = if person.admin { "admin" } else { "user" };
    audit(
        &state,
        &actor,
        "sign_in",
        AuditOutcome::Ok,
        Some(&format!("{role}, device")),
    )
    .await;
    let expires_at = unix_now() + DEVICE_TOKEN_DAYS * 86_400;
    let created = super::tokens::issue(
        &state,
        &actor,
        &person.user,
        "CLI (device sign-in)",
        TokenScope::Write,
        Some(expires_at),
    )
    .await?;
    tracing::info!(user = %person.user, "signed in through the device flow");
    Ok(Json(DeviceSignInStatus {
        status: "done".into(),
        user_id: Some(person.user),
        token: Some(created.token),
    }))
}

/// A refused device sign-in, counted and audited as a refused browser sign-in is.
async fn refused(state: &AppState, parts: &Parts, actor: &Actor, why: &str) {
    tracing::warn!(%why, "device sign-in refused");
    refused_sign_in(state, parts, actor, Some(&format!("device: {why}"))).await;
}
