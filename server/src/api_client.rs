//! A typed client of StreamHub's REST API, for the producer daemon and the CLI consumer: the
//! same wire types the server uses, and errors that say which address failed and how to fix it.

use app::api::encode;
use app::wire::{
    ActivateRequest, ActiveTopic, ErrorBody, MessageBody, ProduceRequest, Produced, Stats,
    Subscription, SubscriptionRequest, Topic, TopicLag, TopicStatus,
};
use reqwest::{Method, StatusCode};
use serde::{de::DeserializeOwned, Serialize};
use std::time::Duration;

/// Where the StreamHub server is, for the processes that call it (the producer and the CLI
/// flatten this into their command lines).
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// The StreamHub server's base URL.
    #[arg(
        long,
        env = "STREAMHUB_API_URL",
        default_value = "http://127.0.0.1:3000"
    )]
    pub api_url: String,
}

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiClientError {
    /// The server could not be reached at all.
    #[error(
        "cannot reach the StreamHub API at {url} ({source}); set STREAMHUB_API_URL or --api-url"
    )]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error body.
    #[error("{status}: {message}")]
    Refused {
        status: StatusCode,
        /// The machine word of the error body (`unauthorized`, `topic_not_found`, …).
        error: String,
        message: String,
    },
    /// The answer was not what the contract says.
    #[error("unexpected answer from {url}: {detail}")]
    Protocol { url: String, detail: String },
}

impl ApiClientError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiClientError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What [`ApiClient::subscribe`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeOutcome {
    Added,
    AlreadySubscribed,
}

/// A client of one StreamHub server. Cheap to clone.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    /// Sent as `Authorization: Bearer` on every call that names no other (a personal access
    /// token, in `oidc` mode).
    bearer: Option<String>,
}

impl ApiClient {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:3000`).
    pub fn new(base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        Self {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            bearer: None,
        }
    }

    /// The same client, proving itself with `token` (a personal access token) on every call.
    pub fn with_bearer(mut self, token: Option<String>) -> Self {
        self.bearer = token.filter(|t| !t.trim().is_empty());
        self
    }

    /// The server's base URL (for messages).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        headers: &[(&str, &str)],
    ) -> Result<(StatusCode, T), ApiClientError> {
        let url = format!("{}{}", self.base, path);
        let mut request = self.http.request(method, &url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let named = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        if let (Some(token), false) = (&self.bearer, named) {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|source| ApiClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|source| ApiClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        if !status.is_success() {
            let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
            return Err(ApiClientError::Refused {
                status,
                error: body.as_ref().map(|b| b.error.clone()).unwrap_or_default(),
                message: body
                    .map(|b| b.message)
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
            });
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| ApiClientError::Protocol {
            url,
            detail: e.to_string(),
        })?;
        Ok((status, value))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiClientError> {
        Ok(self.call::<(), T>(Method::GET, path, None, &[]).await?.1)
    }

    /// `POST /auth/device`: a device sign-in begun at the identity provider (`oidc` mode).
    pub async fn device_sign_in(&self) -> Result<app::wire::DeviceSignIn, ApiClientError> {
        let empty = serde_json::json!({});
        Ok(self
            .call(Method::POST, "/auth/device", Some(&empty), &[])
            .await?
            .1)
    }

    /// `POST /auth/device/token`: whether the person confirmed the device sign-in `handle`.
    pub async fn device_sign_in_status(
        &self,
        handle: &str,
    ) -> Result<app::wire::DeviceSignInStatus, ApiClientError> {
        let body = app::wire::DeviceSignInPoll {
            handle: handle.to_owned(),
        };
        Ok(self
            .call(Method::POST, "/auth/device/token", Some(&body), &[])
            .await?
            .1)
    }

    /// `GET /api/tokens`: the caller's personal access tokens (proves a token works).
    pub async fn tokens(&self) -> Result<Vec<app::wire::AccessToken>, ApiClientError> {
        self.get("/api/tokens").await
    }

    /// `GET /api/topics`
    pub async fn topics(&self) -> Result<Vec<Topic>, ApiClientError> {
        self.get("/api/topics").await
    }

    /// `GET /api/topics?status=…`: only the topics in `status` (what the producer polls for,
    /// rather than the whole list).
    pub async fn topics_in(&self, status: TopicStatus) -> Result<Vec<Topic>, ApiClientError> {
        self.get(&format!("/api/topics?status={status}")).await
    }

    /// `GET /api/topics/active`
    pub async fn active_topics(&self) -> Result<Vec<ActiveTopic>, ApiClientError> {
        self.get("/api/topics/active").await
    }

    /// `GET /api/stats`
    pub async fn stats(&self) -> Result<Stats, ApiClientError> {
        self.get("/api/stats").await
    }

    /// `GET /api/subscriptions?user_id=…`
    pub async fn subscriptions(&self, user_id: &str) -> Result<Vec<Subscription>, ApiClientError> {
        let query = format!("/api/subscriptions?user_id={}", encode(user_id));
        self.get(&query).await
    }

    /// `GET /api/subscriptions` (everyone's).
    pub async fn all_subscriptions(&self) -> Result<Vec<Subscription>, ApiClientError> {
        self.get("/api/subscriptions").await
    }

    /// `POST /api/topics/activate_by_name` with the producer secret.
    pub async fn activate(&self, topic: &str, producer_key: &str) -> Result<(), ApiClientError> {
        let body = ActivateRequest {
            topic_name: topic.to_owned(),
        };
        self.call::<_, MessageBody>(
            Method::POST,
            "/api/topics/activate_by_name",
            Some(&body),
            &[("x-producer-key", producer_key)],
        )
        .await
        .map(|_| ())
    }

    /// `POST /api/topics/{id}/records` with the admin token: where the record landed.
    pub async fn produce(
        &self,
        topic_id: i64,
        record: &ProduceRequest,
        admin_token: &str,
    ) -> Result<Produced, ApiClientError> {
        let auth = format!("Bearer {admin_token}");
        let path = format!("/api/topics/{topic_id}/records");
        let (_, produced) = self
            .call(
                Method::POST,
                &path,
                Some(record),
                &[("authorization", &auth)],
            )
            .await?;
        Ok(produced)
    }

    /// `GET /api/subscriptions/lag?user_id=…`
    pub async fn lag(&self, user_id: &str) -> Result<Vec<TopicLag>, ApiClientError> {
        self.get(&format!(
            "/api/subscriptions/lag?user_id={}",
            app::api::encode(user_id)
        ))
        .await
    }

    /// `POST /api/subscriptions`
    pub async fn subscribe(
        &self,
        user_id: &str,
        topic: &str,
    ) -> Result<SubscribeOutcome, ApiClientError> {
        let body = SubscriptionRequest {
            user_id: user_id.to_owned(),
            topic_name: topic.to_owned(),
        };
        let (status, _) = self
            .call::<_, MessageBody>(Method::POST, "/api/subscriptions", Some(&body), &[])
            .await?;
        Ok(if status == StatusCode::CREATED {
            SubscribeOutcome::Added
        } else {
            SubscribeOutcome::AlreadySubscribed
        })
    }

    /// `DELETE /api/subscriptions`
    pub async fn unsubscribe(&self, user_id: &str, topic: &str) -> Result<(), ApiClientError> {
        let body = SubscriptionRequest {
            user_id: user_id.to_owned(),
            topic_name: topic.to_owned(),
        };
        self.call::<_, MessageBody>(Method::DELETE, "/api/subscriptions", Some(&body), &[])
            .await
            .map(|_| ())
    }
}
