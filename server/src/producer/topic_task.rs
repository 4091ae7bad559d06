//! Feeding one topic: generate, hand to the producer, pace to the rate; pause while the client's
//! buffer is full (the broker is away) instead of dropping or spinning.

use super::{kafka_out::Producer, stats::TopicStats};
use crate::generate::{Generator, Record, SCHEMA_VERSION};
use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::BaseRecord,
};
use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};
use tokio::sync::watch;

/// What one topic's task needs.
pub struct Feed {
    pub topic: String,
    pub generator: Box<dyn Generator>,
    pub producer: Arc<Producer>,
    pub stats: Arc<TopicStats>,
    /// Records per second; `None` = as fast as the broker accepts.
    pub rate: Option<f64>,
    pub stopped: watch::Receiver<bool>,
    /// Stop after this many records.
    pub limit: Option<u64>,
    /// Write with a registered schema instead of JSON.
    pub encoding: Option<super::encoding::Encoding>,
}

/// How many records are generated per wake-up at most (keeps high rates cheap to pace).
const MAX_BURST: u64 = 1000;

/// Runs until told to stop.
pub async fn feed(mut feed: Feed) {
    let schema_version = SCHEMA_VERSION.to_string();
    let schema = match &feed.encoding {
        Some(encoding) => {
            let event_type = feed.generator.event_type();
            match encoding
                .register(&feed.topic, event_type, &mut feed.stopped)
                .await
            {
                Some(schema) => Some(schema),
                None => return,
            }
        }
        None => None,
    };
    let content_type = feed
        .encoding
        .as_ref()
        .map_or("application/json", |e| e.content_type());
    let mut encoded: Vec<u8>;
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "event_type",
            value: Some(feed.generator.event_type().as_str()),
        })
        .insert(Header {
            key: "content-type",
            value: Some(content_type),
        })
        .insert(Header {
            key: "schema_version",
            value: Some(schema_version.as_str()),
        });
    let mut record = Record::default();
    let started = tokio::time::Instant::now();
    let mut produced: u64 = 0;
    let mut paused = false;
    loop {
        if *feed.stopped.borrow() || feed.limit.is_some_and(|limit| produced >= limit) {
            return;
        }
        // How many records are due by now (all of them in max-rate mode).
        let due = match feed.rate {
            Some(rate) => {
                ((started.elapsed().as_secs_f64() * rate) as u64).saturating_sub(produced)
            }
            None => MAX_BURST,
        };
        let left = feed.limit.map_or(u64::MAX, |limit| limit - produced);
        for _ in 0..due.min(MAX_BURST).min(left) {
            feed.generator.next_into(&mut record);
            let payload = match &schema {
                Some(schema) => match super::encoding::encode(schema, &record.payload) {
                    Ok(bytes) => {
                        encoded = bytes;
                        encoded.as_slice()
                    }
                    Err(reason) => {
                        feed.stats.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(topic = %feed.topic, %reason, "event does not fit its schema");
                        continue;
                    }
                },
                None => record.payload.as_slice(),
            };
            let base = BaseRecord::with_opaque_to(&feed.topic, feed.stats.clone())
                .key(record.key.as_str())
                .payload(payload)
                .headers(headers.clone());
            match feed.producer.send(base) {
                Ok(()) => {
                    feed.stats.sent.fetch_add(1, Ordering::Relaxed);
                    produced += 1;
                    if std::mem::take(&mut paused) && feed.rate.is_some() {
                        tracing::info!(topic = %feed.topic, "buffer has room again; producing");
                    }
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    feed.stats.backpressure.fetch_add(1, Ordering::Relaxed);
                    // At max rate a full buffer is the normal state, not news.
                    if !std::mem::replace(&mut paused, true) && feed.rate.is_some() {
                        tracing::warn!(topic = %feed.topic, "buffer full (broker slow or unreachable); pausing");
                    }
                    // The skipped record was never handed over, so nothing acknowledged is lost;
                    // the pacing clock restarts so that no burst follows the pause.
                    if feed.rate.is_some() {
                        produced = due_now(started, feed.rate);
                    }
                    break;
                }
                Err((error, _)) => {
                    feed.stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(topic = %feed.topic, %error, "record refused by the client");
                }
            }
        }
        let wait = match (feed.rate, paused) {
            // At max rate, come back as soon as the broker has taken a batch.
            (None, true) => Duration::from_millis(1),
            (Some(_), true) => Duration::from_millis(100),
            (Some(rate), false) => Duration::from_secs_f64((1.0 / rate).clamp(0.001, 1.0)),
            (None, false) => Duration::ZERO,
        };
        if wait.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = feed.stopped.changed() => {}
            }
        }
    }
}

fn due_now(started: tokio::time::Instant, rate: Option<f64>) -> u64 {
    rate.map(|r| (started.elapsed().as_secs_f64() * r) as u64)
        .unwrap_or(0)
}
