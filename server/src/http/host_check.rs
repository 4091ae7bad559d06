//! The `Host` a request names must be one this server answers to. A page on another site can
//! point its own domain at 127.0.0.1 (DNS rebinding) and then talk to a StreamHub on the
//! viewer's loopback as "same origin": the browser sends `Host: evil.example:3000`, and the
//! origin check of the stream socket (which compares `Origin` with `Host`) passes. Checking
//! `Host` against the names the server is really reached by closes that.

use super::error::ApiError;
use axum::{
    extract::{Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use std::{net::SocketAddr, sync::Arc};

/// Host names (no port) requests may name; `None` lets any through.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Option<Vec<String>>);

impl AllowedHosts {
    /// `configured` (`STREAMHUB_ALLOWED_HOSTS`) when given; else, for a server listening on
    /// loopback only, the loopback names (nobody else can reach it by another name); else any
    /// host (the server's names on a network are not known to it: configure them).
    pub fn new(configured: &[String], listening: SocketAddr) -> Self {
        let configured: Vec<String> = configured
            .iter()
            .map(|h| host_name(h.trim()).to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if configured.iter().any(|h| h == "*") {
            return AllowedHosts(None);
        }
        if !configured.is_empty() {
            return AllowedHosts(Some(configured));
        }
        if listening.ip().is_loopback() {
            let loopback = ["localhost", "127.0.0.1", "[::1]"];
            return AllowedHosts(Some(loopback.map(str::to_owned).to_vec()));
        }
        AllowedHosts(None)
    }

    /// Whether a `Host` header value (`name[:port]`) is allowed.
    pub fn allows(&self, host: &str) -> bool {
        let Some(allowed) = &self.0 else {
            return true;
        };
        let name = host_name(host);
        allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
    }

    /// For the start-up log: the names, or `None` when any host is answered.
    pub fn names(&self) -> Option<&[String]> {
        self.0.as_deref()
    }
}

/// `example.org:3000` → `example.org`; `[::1]:3000` → `[::1]`; anything that is not a name with
/// an optional numeric port (`[::1]junk`, `a:b:c`) → itself, which no allow-list holds.
fn host_name(host: &str) -> &str {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((inside, port)) => (&host[..inside.len() + 2], port),
            None => return host,
        },
        None => host.split_at(host.find(':').unwrap_or(host.len())),
    };
    let port_ok = match port.strip_prefix(':') {
        Some(digits) => !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    };
    if port_ok {
        name
    } else {
        host
    }
}

/// Refuses requests whose host is not allowed (403, JSON). The host is the URI's authority when
/// the request has one (HTTP/2's `:authority`, an absolute-form HTTP/1 target), else `Host`; a
/// `Host` that is not text counts as not allowed. Requests naming none (HTTP/1.0) go through.
pub async fn check_host(
    State(allowed): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    // Judged on the borrowed name; a string is made only for a refusal's message.
    let host = match request.uri().authority() {
        Some(authority) => Some(authority.as_str()),
        None => request
            .headers()
            .get(header::HOST)
            .map(|v| v.to_str().unwrap_or("\u{fffd}")),
    };
    match host {
        Some(host) if !allowed.allows(host) => ApiError::BadRequest {
            status: StatusCode::FORBIDDEN,
            error: "host_not_allowed",
            message: format!(
                "this server does not answer to the name {host:?} (see STREAMHUB_ALLOWED_HOSTS)"
            ),
        }
        .into_response(),
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_servers_answer_to_loopback_names_only() {
        let hosts = AllowedHosts::new(&[], "127.0.0.1:3000".parse().unwrap());
        for ok in [
            "127.0.0.1:3000",
            "localhost:3000",
            "LOCALHOST",
            "[::1]:3000",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example:3000",
            "127.0.0.1.evil.example",
            "[::2]:3000",
            "[::1]junk",
            "localhost:x",
            "\u{fffd}",
        ] {
            assert!(!hosts.allows(refused), "{refused}");
        }
    }

    #[test]
    fn configured_names_replace_the_default_and_a_star_allows_any() {
        let on_network: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        assert!(AllowedHosts::new(&[], on_network).allows("anything:1"));
        let named = AllowedHosts::new(&["StreamHub.example.org:443".into()], on_network);
        assert!(named.allows("streamhub.example.org:443"));
        assert!(!named.allows("127.0.0.1:3000"));
        let any = AllowedHosts::new(&["*".into()], "127.0.0.1:3000".parse().unwrap());
        assert!(any.allows("evil.example"));
    }
}
