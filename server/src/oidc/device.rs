//! The device flow (RFC 8628) for the CLI's `streamhub-consumer login`: StreamHub starts a
//! device sign-in at the provider and asks the provider about it when the CLI asks StreamHub.
//! Nothing waits here, so any instance can answer any ask.

use super::{Oidc, OidcError, Person};
use openidconnect::{
    core::{CoreDeviceAuthorizationResponse, CoreIdToken},
    RequestTokenError, Scope,
};
use serde_json::Value;
use std::time::Duration;

/// A device sign-in under way (`streamhub-consumer login`): what the person is shown, and the
/// device code StreamHub asks the provider about (it travels to the CLI signed, not encrypted,
/// and is of no use without StreamHub's client secret).
#[derive(Debug, Clone)]
pub struct DeviceStart {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in: Duration,
    pub interval: Duration,
}

/// What the provider says of a device sign-in when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevicePoll {
    /// Not confirmed yet: ask again after the interval.
    Pending,
    /// Asked too often: wait 5 s longer between asks.
    SlowDown,
    /// The person confirmed; the ID token names them.
    Done(Person),
    /// The person refused, or the code expired (the provider's word): start again.
    Ended(String),
}

impl Oidc {
    /// Starts a device sign-in (RFC 8628) for the CLI; `Ok(None)` when it is off here, the
    /// provider offers none, or StreamHub's client may not use it there.
    pub async fn device_start(&self) -> Result<Option<DeviceStart>, OidcError> {
        if !self.device_flow {
            return Ok(None);
        }
        let discovered = self.discovered().await?;
        let Some(endpoint) = discovered.device else {
            return Ok(None);
        };
        let answer = discovered
            .client
            .set_device_authorization_url(endpoint)
            .exchange_device_code()
            .add_scope(Scope::new("profile".to_owned()))
            .request_async(&self.http)
            .await;
        let details: CoreDeviceAuthorizationResponse = match answer {
            Ok(details) => details,
            // Providers list the endpoint for every client; this one lacks the grant there.
            Err(RequestTokenError::ServerResponse(refusal))
                if matches!(
                    refusal.error().to_string().as_str(),
                    "unauthorized_client" | "invalid_scope" | "unsupported_grant_type"
                ) =>
            {
                tracing::warn!(refusal = %refusal, "the identity provider refuses StreamHub the device flow");
                return Ok(None);
            }
            Err(e) => return Err(OidcError::Discovery(e.to_string())),
        };
        Ok(Some(DeviceStart {
            device_code: details.device_code().secret().clone(),
            user_code: details.user_code().secret().clone(),
            verification_uri: details.verification_uri().to_string(),
            verification_uri_complete: details
                .verification_uri_complete()
                .map(|uri| uri.secret().clone()),
            expires_in: details.expires_in(),
            interval: details.interval(),
        }))
    }

    /// Asks the provider once about the device sign-in `device_code`. The CLI asks StreamHub
    /// every few seconds and nothing waits here, so any instance can answer any ask.
    pub async fn device_poll(&self, device_code: &str) -> Result<DevicePoll, OidcError> {
        let discovered = self.discovered().await?;
        let token_url = discovered
            .token
            .ok_or_else(|| OidcError::Discovery("the provider has no token endpoint".into()))?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", self.client_id.as_str()),
        ];
        let request = self
            .http
            .post(token_url.url().clone())
            .header(reqwest::header::ACCEPT, "application/json");
        // A confidential client authenticates as in the code flow (HTTP Basic, each part
        // form-encoded: RFC 6749 §2.3.1); the client id then stays out of the body.
        let request = match &self.client_secret {
            Some(secret) => request
                .basic_auth(
                    form_encoded(self.client_id.as_str()),
                    Some(form_encoded(secret.expose())),
                )
                .form(&form[..2]),
            None => request.form(&form),
        };
        // Not reached, or not answering sensibly: the provider's trouble (or our set-up's), not
        // the person's, and worth asking again (`Discovery`).
        let unavailable = |e: String| OidcError::Discovery(e);
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(unavailable(format!("the token endpoint answered {status}")));
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| unavailable(format!("the token endpoint's answer: {e}")))?;
        if !status.is_success() {
            let error = body["error"].as_str().unwrap_or("unknown");
            let description = body["error_description"].as_str().unwrap_or("");
            return match error {
                "authorization_pending" => Ok(DevicePoll::Pending),
                "slow_down" => Ok(DevicePoll::SlowDown),
                "access_denied" | "expired_token" => Ok(DevicePoll::Ended(error.to_owned())),
                "temporarily_unavailable" | "server_error" | "invalid_client" => {
                    Err(unavailable(format!("{error}: {description}")))
                }
                other => Err(OidcError::Exchange(format!("{other}: {description}"))),
            };
        }
        let id_token: CoreIdToken = body["id_token"]
            .as_str()
            .ok_or(OidcError::NoIdToken)?
            .parse()
            .map_err(|e: serde_json::Error| OidcError::InvalidToken(e.to_string()))?;
        let access_token = body["access_token"].as_str();
        // No nonce in the device flow: the token comes straight from the token endpoint.
        self.person_in(&id_token, None, access_token)
            .await
            .map(DevicePoll::Done)
    }
}

/// `text` form-encoded (`application/x-www-form-urlencoded`), as HTTP Basic client credentials
/// must be.
fn form_encoded(text: &str) -> String {
    openidconnect::url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
