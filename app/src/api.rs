//! How the dashboard talks to the server: the REST API under `/api`, the same contract scripts
//! and the CLI use, so that there is one implementation of every rule and one audit trail.
//!
//! In the browser a call is a `fetch` (gloo-net); a call that changes something repeats the
//! admin session's CSRF token (from the `streamhub_csrf` cookie). During server-side rendering
//! the same call goes in-process to the same router through [`crate::backend::Backend`], with
//! the visitor's cookies, so that pages render as the visitor would see them.
//!
//! Every failure comes back as the API's [`ErrorBody`]; a server that does not answer is one too
//! (`error: "unreachable"`), so pages show one kind of error.

/// Every call names its method: re-exported so that callers of [`send`] find it here.
pub use crate::http_method::Method;
use crate::wire::ErrorBody;
use serde::{de::DeserializeOwned, Serialize};
use std::{future::Future, pin::Pin};

/// What every call yields.
pub type ApiResult<T> = Result<T, ErrorBody>;

/// A call in flight. `Send` because Leptos resources need it (in the browser, where nothing is
/// sent across threads, a `SendWrapper` makes it so).
pub type ApiFuture<T> = Pin<Box<dyn Future<Output = ApiResult<T>> + Send>>;

/// `GET path` (path starts with `/api/`).
pub fn get<T: DeserializeOwned + Send + 'static>(path: impl Into<String>) -> ApiFuture<T> {
    call(Method::Get, path.into(), None)
}

/// `method path` with a JSON body.
pub fn send<B: Serialize, T: DeserializeOwned + Send + 'static>(
    method: Method,
    path: impl Into<String>,
    body: &B,
) -> ApiFuture<T> {
    match serde_json::to_string(body) {
        Ok(json) => call(method, path.into(), Some(json)),
        Err(e) => Box::pin(std::future::ready(Err(ErrorBody {
            error: "invalid_body".into(),
            message: e.to_string(),
            field: None,
            current_status: None,
        }))),
    }
}

/// The body of a request that carries nothing: `{}` (cheaper in the bundle than building a
/// `serde_json::Value` for it).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Empty {}

/// A query-string component, percent-encoded (user ids and filters go into URLs).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes [`encode`] (malformed escapes are kept as they are).
pub fn decode_component(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Turns a status and body into the result: the value on 2xx, the error body otherwise.
pub fn decode<T: DeserializeOwned>(status: u16, body: &str) -> ApiResult<T> {
    if (200..300).contains(&status) {
        serde_json::from_str(body).map_err(|e| ErrorBody {
            error: "bad_response".into(),
            message: format!("the server's answer could not be read: {e}"),
            field: None,
            current_status: None,
        })
    } else {
        Err(serde_json::from_str(body).unwrap_or_else(|_| ErrorBody {
            error: "http_error".into(),
            message: format!("the server answered {status}"),
            field: None,
            current_status: None,
        }))
    }
}

/// The error for a server that did not answer.
pub fn unreachable(detail: impl std::fmt::Display) -> ErrorBody {
    ErrorBody {
        error: "unreachable".into(),
        message: format!("the server could not be reached ({detail})"),
        field: None,
        current_status: None,
    }
}

#[cfg(feature = "ssr")]
fn call<T: DeserializeOwned + Send + 'static>(
    method: Method,
    path: String,
    body: Option<String>,
) -> ApiFuture<T> {
    use crate::backend::SharedBackend;
    // Context is read now, while the caller's reactive owner is current.
    let backend = leptos::prelude::use_context::<SharedBackend>();
    let request = backend.as_ref().map(|b| b.prepare(method, path, body));
    Box::pin(async move {
        let (Some(backend), Some(request)) = (backend, request) else {
            return Err(unreachable("no backend in context"));
        };
        let response = backend.call(request).await;
        decode(response.status, &response.body)
    })
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
fn call<T: DeserializeOwned + Send + 'static>(
    method: Method,
    path: String,
    body: Option<String>,
) -> ApiFuture<T> {
    use gloo_net::http::RequestBuilder;
    Box::pin(send_wrapper::SendWrapper::new(async move {
        let mut builder = RequestBuilder::new(&path)
            .method(match method {
                Method::Get => gloo_net::http::Method::GET,
                Method::Post => gloo_net::http::Method::POST,
                Method::Put => gloo_net::http::Method::PUT,
                Method::Delete => gloo_net::http::Method::DELETE,
            })
            .header("Accept", "application/json");
        if method != Method::Get {
            if let Some(token) = crate::browser::cookie(crate::wire::CSRF_COOKIE) {
                builder = builder.header("X-CSRF-Token", &token);
            }
        }
        let request = match body {
            Some(json) => builder
                .header("Content-Type", "application/json")
                .body(json),
            None => builder.build(),
        }
        .map_err(unreachable)?;
        let response = request.send().await.map_err(unreachable)?;
        let text = response.text().await.map_err(unreachable)?;
        decode(response.status(), &text)
    }))
}

#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
fn call<T: DeserializeOwned + Send + 'static>(
    _method: Method,
    _path: String,
    _body: Option<String>,
) -> ApiFuture<T> {
    Box::pin(std::future::ready(Err(unreachable(
        "built without the ssr or hydrate feature",
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_yields_values_on_2xx_and_error_bodies_otherwise() {
        assert_eq!(decode::<i32>(200, "5"), Ok(5));
        let err = decode::<i32>(404, r#"{"error": "not_found", "message": "no"}"#).unwrap_err();
        assert_eq!(err.error, "not_found");
        let err = decode::<i32>(502, "<html>").unwrap_err();
        assert_eq!(err.error, "http_error");
        assert!(err.message.contains("502"));
        assert_eq!(decode::<i32>(200, "x").unwrap_err().error, "bad_response");
    }

    #[test]
    fn an_empty_body_is_an_empty_object() {
        assert_eq!(serde_json::to_string(&Empty {}).unwrap(), "{}");
    }

    #[test]
    fn encode_escapes_everything_but_unreserved_characters() {
        assert_eq!(encode("user_1.a-b~"), "user_1.a-b~");
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        for text in ["a b&c=d/é", "plain", "%", "%zz", ""] {
            assert_eq!(decode_component(&encode(text)), text);
        }
        assert_eq!(decode_component("%zz%4"), "%zz%4");
    }
}
