//! Notifications of who-may-read-what events (topic requests and decisions, subscription
//! requests and decisions, claims) to a webhook: a JSON POST with a Slack-compatible `text`,
//! signed with `X-StreamHub-Signature: sha256=<hex HMAC of the body>` when a secret is set.
//!
//! Never in the way of the request that caused an event: events go into a bounded queue
//! (dropped, and counted, when it is full) that one task delivers in order, each retried with
//! backoff. Failures are counted and logged once per outage, and once when deliveries work again.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::{
    fmt::Write as _,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::sync::mpsc;

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "x-streamhub-signature";
/// Events waiting for delivery at most; more are dropped (and counted).
const QUEUE: usize = 1024;
/// Attempts at one event before it is given up (and counted as failed).
const ATTEMPTS: u32 = 6;
/// The first wait after a failed attempt; it doubles each time (1 s … 32 s).
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where events go (`STREAMHUB_WEBHOOK_URL`) and what signs them (`STREAMHUB_WEBHOOK_SECRET`).
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    /// A URL that gets a JSON POST for each topic request, subscription request, decision and
    /// claim (with a Slack-compatible `text`). Unset: no notifications.
    #[arg(long, env = "STREAMHUB_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// Signs each notification's body: `X-StreamHub-Signature: sha256=<hex HMAC-SHA256>`. From
    /// the environment only, as every secret.
    #[arg(skip = crate::secrets::from_env("STREAMHUB_WEBHOOK_SECRET"))]
    pub webhook_secret: Option<String>,
}

/// One event, as the webhook receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// `topic_requested`, `topic_approved`, `topic_rejected`, `subscription_requested`,
    /// `subscription_approved`, `subscription_rejected`, `subscription_revoked`,
    /// `claim_requested`, `claim_approved`, `claim_rejected`.
    pub event: &'static str,
    pub topic: String,
    /// Who did it (as the audit log names them).
    pub actor: String,
    /// Whose subscription, for subscription events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Which team, for claims and owned topic requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// When (RFC 3339).
    pub at: String,
    /// A sentence for chat tools (Slack reads `text`).
    pub text: String,
}

impl Event {
    /// An event of `kind` on `topic` by `actor`, now; its sentence made from them.
    pub fn new(kind: &'static str, topic: &str, actor: &str) -> Event {
        Event {
            event: kind,
            topic: topic.to_owned(),
            actor: actor.to_owned(),
            user_id: None,
            team: None,
            at: crate::now_rfc3339(),
            text: String::new(),
        }
        .with_text()
    }

    /// Names whose subscription it is.
    pub fn user(mut self, user_id: &str) -> Event {
        self.user_id = Some(user_id.to_owned());
        self.with_text()
    }

    /// Names the team.
    pub fn team(mut self, team: Option<&str>) -> Event {
        self.team = team.map(str::to_owned);
        self.with_text()
    }

    fn with_text(mut self) -> Event {
        let what = self.event.replace('_', " ");
        let mut text = format!("StreamHub: {what}: {} by {}", self.topic, self.actor);
        if let Some(user) = &self.user_id {
            let _ = write!(text, " (for {user})");
        }
        if let Some(team) = &self.team {
            let _ = write!(text, " (team {team})");
        }
        self.text = text;
        self
    }
}

/// Counts for `/metrics`.
#[derive(Debug, Default)]
pub struct WebhookStats {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
}

/// The sending side, shared by every request. Without a URL it does nothing.
#[derive(Clone)]
pub struct Webhooks {
    queue: Option<mpsc::Sender<Event>>,
    stats: Arc<WebhookStats>,
}

impl Webhooks {
    /// Starts the delivery task (when a URL is set) on the current runtime.
    pub fn start(args: &WebhookArgs) -> Result<Webhooks, String> {
        let stats = Arc::new(WebhookStats::default());
        let Some(url) = args.webhook_url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Ok(Webhooks { queue: None, stats });
        };
        let url = url::Url::parse(url).map_err(|e| format!("STREAMHUB_WEBHOOK_URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("STREAMHUB_WEBHOOK_URL: must be an http or https URL".into());
        }
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // A receiver's redirect must not send the events elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("the HTTP client for the webhook: {e}"))?;
        let (queue, events) = mpsc::channel(QUEUE);
        let key = args.webhook_secret.clone().filter(|s| !s.is_empty());
        tokio::spawn(deliver(http, url, key, events, stats.clone()));
        Ok(Webhooks {
            queue: Some(queue),
            stats,
        })
    }

    /// Queues `event` for delivery; never waits.
    pub fn notify(&self, event: Event) {
        let Some(queue) = &self.queue else {
            return;
        };
        if queue.try_send(event).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The `/metrics` lines.
    pub fn render(&self) -> String {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        format!(
            "# HELP streamhub_webhook_events_total Webhook notifications by outcome.\n\
             # TYPE streamhub_webhook_events_total counter\n\
             streamhub_webhook_events_total{{outcome=\"delivered\"}} {}\n\
             streamhub_webhook_events_total{{outcome=\"failed\"}} {}\n\
             streamhub_webhook_events_total{{outcome=\"dropped\"}} {}\n",
            load(&self.stats.delivered),
            load(&self.stats.failed),
            load(&self.stats.dropped),
        )
    }
}

/// The signature header's value for `body`.
pub fn signature(key: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!(
        "sha256={}",
        crate::secrets::hex(&mac.finalize().into_bytes())
    )
}

/// Delivers events in order until the senders are gone.
async fn deliver(
    http: reqwest::Client,
    url: url::Url,
    key: Option<String>,
    mut events: mpsc::Receiver<Event>,
    stats: Arc<WebhookStats>,
) {
    let mut failing = false;
    while let Some(event) = events.recv().await {
        // A struct of strings always serialises.
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let mut backoff = FIRST_BACKOFF;
        let mut delivered = false;
        let mut last_error = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            let mut request = http
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(key) = &key {
                request = request.header(SIGNATURE_HEADER, signature(key, &body));
            }
            match request.send().await {
                Ok(answer) if answer.status().is_success() => {
                    delivered = true;
                    break;
                }
                Ok(answer) => last_error = format!("answered {}", answer.status()),
                Err(e) => last_error = e.without_url().to_string(),
            }
        }
        if delivered {
            stats.delivered.fetch_add(1, Ordering::Relaxed);
            if failing {
                tracing::info!("webhook deliveries work again");
                failing = false;
            }
        } else {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            if !failing {
                tracing::warn!(error = %last_error, event = event.event, "a webhook notification could not be delivered (logged once until deliveries work again)");
                failing = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_says_itself_in_a_sentence() {
        let event = Event::new("subscription_requested", "payments_eu", "ben").user("ben");
        assert_eq!(
            event.text,
            "StreamHub: subscription requested: payments_eu by ben (for ben)"
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event"], "subscription_requested");
        assert!(json.get("team").is_none());
    }

    #[test]
    fn the_signature_is_the_hmac_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn only_http_urls_are_taken() {
        let args = |url: &str| WebhookArgs {
            webhook_url: Some(url.into()),
            webhook_secret: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        assert!(Webhooks::start(&args("ftp://x")).is_err());
        assert!(Webhooks::start(&args("not a url")).is_err());
        assert!(Webhooks::start(&args("http://127.0.0.1:9/hook")).is_ok());
        let none = Webhooks::start(&WebhookArgs {
            webhook_url: None,
            webhook_secret: None,
        })
        .unwrap();
        none.notify(Event::new("topic_requested", "t", "a"));
        assert_eq!(
            none.stats.dropped.load(Ordering::Relaxed),
            0,
            "no URL: nothing queued"
        );
    }
}
