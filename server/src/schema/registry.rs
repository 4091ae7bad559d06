//! A client of the schema registry's REST API (Confluent's, which Redpanda, Apicurio and
//! Karapace also serve): schemas by id, subject versions, registration and compatibility.
//! Every call is bounded in time and in the bytes it reads; credentials go in headers and are
//! never logged.

use crate::secrets::Secret;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The most bytes one answer of the registry may have: a schema larger than this is not one
/// to decode records with.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// How the registry is reached.
#[derive(Clone)]
pub struct Registry {
    client: reqwest::Client,
    base: String,
    /// `base` without the credentials a URL may carry, for logs and messages.
    shown: String,
    auth: Option<RegistryAuth>,
}

/// The registry's credentials.
#[derive(Clone)]
pub enum RegistryAuth {
    Basic { user: String, password: Secret },
    Bearer(Secret),
}

/// What a registry call can end in.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No answer (refused, timed out, cut): the registry is treated as away for a moment.
    #[error("registry unreachable: {0}")]
    Unreachable(String),
    /// 404: no such schema, subject or version.
    #[error("not found in the registry")]
    NotFound,
    /// Any other refusal, with the registry's own message (an incompatible schema, say).
    #[error("the registry refused ({status}): {message}")]
    Refused { status: u16, message: String },
    /// An answer that is not what the API documents, or too large.
    #[error("the registry's answer was not understood: {0}")]
    Malformed(String),
}

/// A schema as the registry stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RegistrySchema {
    pub schema: String,
    /// `AVRO` when absent, `PROTOBUF` or `JSON`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
}

/// A schema another refers to: its import name (Protobuf) or type name (Avro), and where the
/// registry keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SchemaReference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// One version of a subject.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SubjectVersion {
    pub subject: String,
    pub version: i32,
    pub id: u32,
    pub schema: String,
    #[serde(default)]
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Vec<SchemaReference>,
}

/// Where a schema id is registered.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SubjectAndVersion {
    pub subject: String,
    pub version: i32,
}

#[derive(Deserialize)]
struct Registered {
    id: u32,
}

#[derive(Deserialize)]
struct Compatibility {
    is_compatible: bool,
    #[serde(default)]
    messages: Vec<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

impl Registry {
    /// A client for the registry at `url`, each call given `timeout`, trusting `ca_pem` (PEM
    /// certificates) besides the system's roots for `https://`.
    pub fn new(
        url: &str,
        auth: Option<RegistryAuth>,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, RegistryError> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| RegistryError::Malformed(format!("CA certificates: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| RegistryError::Malformed(e.to_string()))?;
        let base = url.trim_end_matches('/').to_owned();
        let shown = match url::Url::parse(&base) {
            Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
                let _ = parsed.set_username("");
                let _ = parsed.set_password(None);
                parsed.to_string().trim_end_matches('/').to_owned()
            }
            _ => base.clone(),
        };
        Ok(Self {
            client,
            base,
            shown,
            auth,
        })
    }

    /// The registry's address without credentials, for logs and messages.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// The schema with this id.
    pub async fn schema_by_id(&self, id: u32) -> Result<RegistrySchema, RegistryError> {
        self.get(&format!("/schemas/ids/{id}")).await
    }

    /// The subjects and versions this id is registered as.
    pub async fn versions_of(&self, id: u32) -> Result<Vec<SubjectAndVersion>, RegistryError> {
        self.get(&format!("/schemas/ids/{id}/versions")).await
    }

    /// A subject's version (`latest` or a number).
    pub async fn subject_version(
        &self,
        subject: &str,
        version: &str,
    ) -> Result<SubjectVersion, RegistryError> {
        self.get(&format!(
            "/subjects/{}/versions/{}",
            encode(subject),
            encode(version)
        ))
        .await
    }

    /// Registers `schema` under `subject` (the registry gives back the id it already has for
    /// the same schema).
    pub async fn register(
        &self,
        subject: &str,
        schema: &RegistrySchema,
    ) -> Result<u32, RegistryError> {
        let registered: Registered = self
            .post(&format!("/subjects/{}/versions", encode(subject)), schema)
            .await?;
        Ok(registered.id)
    }

    /// Whether `schema` may become `subject`'s next version, and if not the registry's reasons.
    /// A subject without versions takes any schema.
    pub async fn check_compatibility(
        &self,
        subject: &str,
        schema: &RegistrySchema,
    ) -> Result<Result<(), Vec<String>>, RegistryError> {
        let path = format!(
            "/compatibility/subjects/{}/versions/latest?verbose=true",
            encode(subject)
        );
        match self.post::<Compatibility>(&path, schema).await {
            Ok(c) if c.is_compatible => Ok(Ok(())),
            Ok(c) => Ok(Err(c.messages)),
            Err(RegistryError::NotFound) => Ok(Ok(())),
            Err(e) => Err(e),
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, RegistryError> {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &RegistrySchema,
    ) -> Result<T, RegistryError> {
        let body = serde_json::to_vec(body).map_err(|e| RegistryError::Malformed(e.to_string()))?;
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/vnd.schemaregistry.v1+json")
            .body(body);
        self.send(request).await
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, RegistryError> {
        let request = match &self.auth {
            None => request,
            Some(RegistryAuth::Basic { user, password }) => {
                request.basic_auth(user, Some(password.expose()))
            }
            Some(RegistryAuth::Bearer(token)) => request.bearer_auth(token.expose()),
        };
        let mut response = request
            .header(
                "accept",
                "application/vnd.schemaregistry.v1+json, application/json",
            )
            .send()
            .await
            .map_err(|e| RegistryError::Unreachable(without_url(&e)))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| RegistryError::Unreachable(without_url(&e)))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(RegistryError::Malformed(format!(
                    "an answer over {MAX_ANSWER_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound);
        }
        if status.is_server_error() {
            return Err(RegistryError::Unreachable(format!(
                "HTTP {}",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&body)
                .map(|e| e.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(500).collect());
            return Err(RegistryError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&body).map_err(|e| RegistryError::Malformed(e.to_string()))
    }
}

/// reqwest's error without the URL it may print (it could carry credentials in user info).
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "the connection broke"
    };
    kind.to_owned()
}

fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
