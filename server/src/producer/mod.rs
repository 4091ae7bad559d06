//! The producer daemon (`streamhub-producer`): it watches the API, activates every `approved`
//! topic with the producer secret, feeds every `active` topic with realistic records of the
//! topic's type, and stops feeding topics that become inactive or disappear.
//!
//! It is built to keep going: with the API down it keeps producing to the topics it knows; with
//! the broker down records wait in a bounded buffer and production pauses when it is full; a
//! wrong secret is reported once, not every poll. On shutdown it stops generating, flushes, and
//! returns a summary per topic.

pub mod config;
pub mod encoding;
mod kafka_out;
pub mod stats;
mod topic_task;

use crate::{
    api_client::{ApiClient, ApiClientError},
    secrets,
};
use app::{
    domain::EventType,
    wire::{Topic, TopicStatus},
};
pub use config::ProducerConfig;
use rdkafka::producer::Producer as _;
use stats::{StatsRegistry, TopicCounts};
use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    sync::Arc,
    time::Duration,
};
use tokio::{sync::watch, task::JoinHandle};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    #[error("cannot create the Kafka producer: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("{0}")]
    Format(String),
}

/// Per-topic totals of a whole run, printed at shutdown.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub topics: BTreeMap<String, TopicCounts>,
    /// Records still unacknowledged when the flush deadline passed.
    pub unflushed: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<40} {:>10} {:>10} {:>8}",
            "topic", "sent", "acked", "failed"
        )?;
        for (topic, c) in &self.topics {
            writeln!(
                f,
                "{topic:<40} {:>10} {:>10} {:>8}",
                c.sent, c.acked, c.failed
            )?;
        }
        if self.unflushed > 0 {
            writeln!(
                f,
                "{} records were still unacknowledged at exit",
                self.unflushed
            )?;
        }
        Ok(())
    }
}

/// One topic being fed.
struct Feeding {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Remembers which problems were already reported, so that each is logged once until it clears.
#[derive(Default)]
struct Reported {
    api_down: bool,
    secret_rejected: bool,
    no_secret: bool,
    activation_errors: HashMap<String, String>,
}

/// Runs the daemon until `shutdown` resolves; returns what it produced.
pub async fn run(
    config: ProducerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Summary, ProducerError> {
    let producer = Arc::new(kafka_out::producer(&config)?);
    let encoding =
        encoding::Encoding::new(config.format, &config.schemas).map_err(ProducerError::Format)?;
    let api = ApiClient::new(&config.api.api_url);
    let stats = StatsRegistry::default();
    let secret = config
        .producer_secret
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            secrets::read_file(&config.data_dir.join(secrets::PRODUCER_SECRET_FILE))
                .ok()
                .map(|s| s.expose().to_owned())
        });
    let seed = config.seed.unwrap_or_else(|| {
        let mut bytes = [0_u8; 8];
        let _ = getrandom::fill(&mut bytes);
        u64::from_le_bytes(bytes)
    });
    if let Some(addr) = config.metrics_addr {
        tokio::spawn(serve_metrics(addr, stats.clone()));
    }
    tracing::info!(api = %config.api.api_url, bootstrap = %config.kafka.bootstrap_servers, rate = config.rate, max_rate = config.max_rate, "producer daemon started");

    let mut feeding: HashMap<String, Feeding> = HashMap::new();
    let mut reported = Reported::default();
    let mut poll = tokio::time::interval(config.poll_interval());
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut status = tokio::time::interval(Duration::from_secs(config.status_interval_s.max(1)));
    status.tick().await;
    let mut last_status = stats.snapshot();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = poll.tick() => {
                if config.count.is_some() && !feeding.is_empty() && feeding.values().all(|f| f.task.is_finished()) {
                    tracing::info!("every topic has its --count records");
                    break;
                }
                if let Some(wanted) = poll_api(&api, secret.as_deref(), &mut reported).await {
                    reconcile(&config, seed, (&producer, encoding.as_ref()), &stats, &mut feeding, wanted);
                }
            }
            _ = status.tick() => {
                last_status = log_status(&stats, &last_status, config.status_interval_s.max(1));
            }
        }
    }

    tracing::info!("stopping: no new records; flushing what is in flight");
    for (_, feeding) in feeding.drain() {
        let _ = feeding.stop.send(true);
        let _ = feeding.task.await;
    }
    let flush_producer = producer.clone();
    let flushed =
        tokio::task::spawn_blocking(move || flush_producer.flush(Duration::from_secs(30)))
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false);
    let unflushed = if flushed {
        0
    } else {
        u64::try_from(producer.in_flight_count()).unwrap_or(0)
    };
    let summary = Summary {
        topics: stats.snapshot(),
        unflushed,
    };
    tracing::info!("producer stopped\n{summary}");
    Ok(summary)
}

/// Asks the API for topics, activates approved ones, and returns the topics to feed (name and
/// event type) — or `None` when the API could not be asked (keep feeding what we feed).
async fn poll_api(
    api: &ApiClient,
    secret: Option<&str>,
    reported: &mut Reported,
) -> Option<Vec<(String, EventType)>> {
    // Only what it acts on: the approved topics to activate and the active ones to feed (the
    // whole list, with every pending and rejected request, can be very long).
    let wanted = async {
        let mut topics = api.topics_in(TopicStatus::Approved).await?;
        topics.extend(api.topics_in(TopicStatus::Active).await?);
        Ok::<_, crate::api_client::ApiClientError>(topics)
    };
    let topics = match wanted.await {
        Ok(topics) => {
            if std::mem::take(&mut reported.api_down) {
                tracing::info!("API reachable again");
            }
            topics
        }
        Err(e) => {
            if !std::mem::replace(&mut reported.api_down, true) {
                tracing::warn!(error = %e, "API unavailable; producing to the topics already known");
            }
            return None;
        }
    };
    let mut wanted = Vec::new();
    for topic in topics {
        let active = match topic.status {
            TopicStatus::Active => true,
            // Its name is another application's topic in Kafka: it waits for an admin.
            TopicStatus::Approved if topic.kafka_conflict => false,
            TopicStatus::Approved => activate(api, secret, &topic, reported).await,
            _ => false,
        };
        if active {
            wanted.push((topic.topic_name.clone(), topic.event_type()));
        }
    }
    Some(wanted)
}

async fn activate(
    api: &ApiClient,
    secret: Option<&str>,
    topic: &Topic,
    reported: &mut Reported,
) -> bool {
    let Some(secret) = secret else {
        if !std::mem::replace(&mut reported.no_secret, true) {
            tracing::error!("approved topics wait: no producer secret (set PRODUCER_SECRET or STREAMHUB_DATA_DIR)");
        }
        return false;
    };
    match api.activate(&topic.topic_name, secret).await {
        Ok(()) => {
            reported.activation_errors.remove(&topic.topic_name);
            if std::mem::take(&mut reported.secret_rejected) {
                tracing::info!("producer secret accepted again");
            }
            tracing::info!(topic = %topic.topic_name, "activated");
            true
        }
        Err(ApiClientError::Refused { status, .. })
            if status == reqwest::StatusCode::UNAUTHORIZED =>
        {
            if !std::mem::replace(&mut reported.secret_rejected, true) {
                tracing::error!("the server rejected the producer secret; approved topics stay approved (check PRODUCER_SECRET)");
            }
            false
        }
        Err(e) => {
            let message = e.to_string();
            if reported.activation_errors.get(&topic.topic_name) != Some(&message) {
                tracing::warn!(topic = %topic.topic_name, error = %message, "activation failed; will retry");
                reported
                    .activation_errors
                    .insert(topic.topic_name.clone(), message);
            }
            false
        }
    }
}

/// Starts feeding new topics and stops feeding those no longer wanted.
fn reconcile(
    config: &ProducerConfig,
    seed: u64,
    (producer, encoding): (&Arc<kafka_out::Producer>, Option<&encoding::Encoding>),
    stats: &StatsRegistry,
    feeding: &mut HashMap<String, Feeding>,
    wanted: Vec<(String, EventType)>,
) {
    let wanted: HashMap<String, EventType> = wanted.into_iter().collect();
    feeding.retain(|name, feed| {
        // A task that finished its --count stays (finished) so that it is not started again.
        let keep =
            wanted.contains_key(name) && (config.count.is_some() || !feed.task.is_finished());
        if !keep {
            let _ = feed.stop.send(true);
            tracing::info!(topic = %name, "stopped producing (topic no longer active)");
        }
        keep
    });
    for (name, event_type) in wanted {
        if feeding.contains_key(&name) {
            continue;
        }
        let (stop, stopped) = watch::channel(false);
        let rate = (!config.max_rate).then(|| config.rate_for(event_type));
        let task = tokio::spawn(topic_task::feed(topic_task::Feed {
            topic: name.clone(),
            generator: crate::generate::generator(event_type, seed, &name),
            producer: producer.clone(),
            stats: stats.topic(&name),
            rate,
            stopped,
            limit: config.count,
            encoding: encoding.cloned(),
        }));
        tracing::info!(topic = %name, %event_type, rate = ?rate, "producing");
        feeding.insert(name, Feeding { stop, task });
    }
}

fn log_status(
    stats: &StatsRegistry,
    last: &BTreeMap<String, TopicCounts>,
    interval_s: u64,
) -> BTreeMap<String, TopicCounts> {
    let now = stats.snapshot();
    for (topic, counts) in &now {
        let before = last.get(topic).copied().unwrap_or_default();
        if counts == &before {
            continue;
        }
        let rate = (counts.acked - before.acked) as f64 / interval_s as f64;
        tracing::info!(
            topic = %topic,
            rate_per_s = format!("{rate:.1}"),
            acked = counts.acked,
            failed = counts.failed,
            in_flight = counts.in_flight(),
            paused = counts.backpressure - before.backpressure,
            "status"
        );
    }
    now
}

async fn serve_metrics(addr: std::net::SocketAddr, stats: StatsRegistry) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let stats = stats.clone();
            async move { stats.render_prometheus() }
        }),
    );
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => {
            tracing::info!(%addr, "metrics listener");
            let _ = axum::serve(listener, app).await;
        }
        Err(e) => tracing::error!(%addr, error = %e, "cannot serve metrics"),
    }
}
