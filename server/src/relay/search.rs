//! Searching a topic's history: a scan of a range of a topic (all of it, a partition, an offset
//! range, a time window) with a filter expression, on a blocking thread of its own under the
//! relay's search turns. The socket that asked gets progress (scanned of total, matches, rate)
//! every [`PROGRESS_EVERY`], the matches as they are found, and the end; a cap on matches ends
//! it early, and a `cancel_search` frame, a new search, or the socket closing stops the reader
//! within a poll (100 ms).

use super::{
    blocking::joined,
    evaluation::FilterLease,
    feed::FeedError,
    outlet::Outlet,
    range_reader::{Next, RangeReader},
    record::{encode_record, to_stream_record, EncodedRecord},
    Relay,
};
use crate::{
    filter::{RecordVariables, Verdict},
    kafka::KafkaArgs,
    schema::Schemas,
};
use app::stream::ServerFrame;
use axum::extract::ws::Message as WsMessage;
use rdkafka::message::Message;
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

/// How often a running search reports its progress.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Matches sent at most per `search_results` frame, and the most bytes of records in one.
const RESULTS_BATCH: usize = 200;
const RESULTS_BYTES: usize = 256 * 1024;
/// The most matches a search returns when the client names no cap.
pub const DEFAULT_MATCHES: u64 = 1_000;
/// The most matches a client may ask a search for.
pub const MAX_MATCHES: u64 = 10_000;

/// How a search ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchEnd {
    /// Every record in scope was looked at.
    Complete,
    /// The cap on matches was reached.
    Limit,
    /// The client cancelled it, started another, or went away.
    Cancelled,
    /// One evaluation of the filter took longer than its budget.
    TooCostly,
    /// Its evaluations spent its client's share of time for so long that it paused past
    /// [`MAX_PAUSED`].
    ShareSpent,
    /// The broker failed it.
    Failed(String),
}

impl SearchEnd {
    /// The `reason` of the `search_done` frame, and what it has to say.
    fn reason(&self) -> (&'static str, Option<String>) {
        match self {
            SearchEnd::Complete => ("complete", None),
            SearchEnd::Limit => ("limit", None),
            SearchEnd::Cancelled => ("cancelled", None),
            SearchEnd::TooCostly => (
                "filter_too_costly",
                Some(format!(
                    "the filter took longer than {} ms on one record: simplify it",
                    crate::filter::EVALUATION_BUDGET.as_millis()
                )),
            ),
            SearchEnd::ShareSpent => (
                "filter_too_costly",
                Some(format!(
                    "the filter costs so much that the search waited {} s for its share of evaluation time: simplify it, or search a narrower range",
                    MAX_PAUSED.as_secs()
                )),
            ),
            SearchEnd::Failed(why) => ("failed", Some(why.clone())),
        }
    }
}

/// What one search covers.
#[derive(Debug, Clone)]
pub struct Scope {
    pub topic: String,
    /// Per partition, `[start, end)`.
    pub ranges: BTreeMap<i32, (i64, i64)>,
    /// Only records stamped in `[since, until)`, in ms since the epoch.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub max_matches: u64,
    /// Only records this matches (all without one), as the reader sees them.
    pub filter: Option<FilterLease>,
    /// The masks the reader's records get (before the filter looks at them), if any.
    pub mask: Option<std::sync::Arc<super::masked::MaskView>>,
}

impl Scope {
    /// Records in the ranges: what "scanned of total" counts towards.
    pub fn total(&self) -> u64 {
        self.ranges
            .values()
            .map(|(start, end)| u64::try_from(end - start).unwrap_or(0))
            .sum()
    }
}

/// A search's counters, updated by its reader and read by its reporter.
#[derive(Debug, Default)]
pub struct Progress {
    pub scanned: AtomicU64,
    pub matches: AtomicU64,
    pub cancelled: AtomicBool,
}

/// A running search, held by its socket; cancelled (and its reader stopped) when dropped. Its
/// task goes on until the reader has stopped, and ends by telling the client how it ended.
pub struct RunningSearch {
    pub id: String,
    /// The topic it reads: its search ends when the socket may no longer read it.
    pub topic: String,
    progress: Arc<Progress>,
    /// The reporter, which ends after the reader (and so after the search's turn is given back).
    reporter: tokio::task::JoinHandle<()>,
}

/// How long [`RunningSearch::stop`] waits for a cancelled search to wind down: its reader stops
/// within a poll, so this is only reached when the broker hangs.
const STOP_WAIT: Duration = Duration::from_secs(2);

impl RunningSearch {
    /// Stops the search: its reader within a poll, and its reporter (which says `cancelled`).
    pub fn cancel(&self) {
        self.progress.cancelled.store(true, Ordering::Relaxed);
    }

    /// Cancels the search and waits (a little) until it has ended and given its turn back, so
    /// that a search replacing it is not refused for the turn it still held.
    pub async fn stop(mut self) {
        self.cancel();
        let _ = tokio::time::timeout(STOP_WAIT, &mut self.reporter).await;
    }
}

impl Drop for RunningSearch {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Starts `scope`'s search for a socket: `turns` are held until its reader has stopped.
pub fn start<T: Send + 'static>(
    relay: &Relay,
    outlet: Outlet,
    id: String,
    scope: Scope,
    turns: T,
) -> RunningSearch {
    let progress = Arc::new(Progress::default());
    let topic = scope.topic.clone();
    let reporter = tokio::spawn(report(
        relay.clone(),
        outlet,
        id.clone(),
        scope,
        progress.clone(),
        turns,
    ));
    RunningSearch {
        id,
        topic,
        progress,
        reporter,
    }
}

/// Runs the reader and tells the client how it goes, until the end.
async fn report<T: Send + 'static>(
    relay: Relay,
    outlet: Outlet,
    id: String,
    scope: Scope,
    progress: Arc<Progress>,
    turns: T,
) {
    let total = scope.total();
    let (batches, mut found) = mpsc::channel::<Vec<EncodedRecord>>(4);
    let reader = {
        let (kafka, progress) = (relay.kafka().clone(), progress.clone());
        let evaluations = relay.clone();
        let (schemas, runtime) = (relay.schemas().clone(), tokio::runtime::Handle::current());
        tokio::task::spawn_blocking(move || {
            let _turns = turns;
            scan(
                &kafka,
                (&schemas, &runtime),
                &scope,
                &progress,
                &evaluations.stats().filter_evaluations,
                batches,
            )
        })
    };
    let started = Instant::now();
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let progress_frame = |progress: &Progress| {
        let scanned = progress.scanned.load(Ordering::Relaxed);
        ServerFrame::SearchProgress {
            id: id.clone(),
            scanned,
            total,
            matches: progress.matches.load(Ordering::Relaxed),
            rate: scanned as f64 / started.elapsed().as_secs_f64().max(1e-3),
        }
    };
    // Matches sent: what `search_done` reports (a cancelled search's last matches are found
    // but not sent).
    let mut sent = 0_u64;
    loop {
        tokio::select! {
            batch = found.recv() => match batch {
                // A cancelled search's matches still in the channel are not sent: the client
                // asked for it to stop, or started another.
                Some(_) if progress.cancelled.load(Ordering::Relaxed) => {}
                Some(batch) => {
                    if outlet.send(WsMessage::Text(results_frame(&id, &batch).into())).await {
                        sent += batch.len() as u64;
                    } else {
                        progress.cancelled.store(true, Ordering::Relaxed);
                    }
                }
                None => break,
            },
            _ = ticker.tick() => {
                if !outlet.send_frame(&progress_frame(&progress)).await {
                    progress.cancelled.store(true, Ordering::Relaxed);
                }
            }
        }
    }
    let end = joined(reader.await).unwrap_or_else(SearchEnd::Failed);
    let (reason, message) = end.reason();
    outlet.send_frame(&progress_frame(&progress)).await;
    outlet
        .send_frame(&ServerFrame::SearchDone {
            id: id.clone(),
            scanned: progress.scanned.load(Ordering::Relaxed),
            matches: sent,
            reason: reason.to_owned(),
            message,
        })
        .await;
}

/// `{"type":"search_results","id":…,"records":[…]}` from records encoded once.
fn results_frame(id: &str, records: &[EncodedRecord]) -> String {
    let id = serde_json::to_string(id).unwrap_or_default();
    let mut frame = format!(r#"{{"type":"search_results","id":{id},"records":["#);
    for (n, record) in records.iter().enumerate() {
        if n > 0 {
            frame.push(',');
        }
        frame.push_str(record.json());
    }
    frame.push_str("]}");
    frame
}

/// Reads `scope` on this (blocking) thread and sends the matches in batches; stops within a
/// poll of a cancel or of the receiver going away, at the cap on matches, or when the broker has
/// not answered for six Kafka timeouts.
pub fn scan(
    kafka: &KafkaArgs,
    (schemas, runtime): (&Schemas, &tokio::runtime::Handle),
    scope: &Scope,
    progress: &Progress,
    evaluations: &AtomicU64,
    out: mpsc::Sender<Vec<EncodedRecord>>,
) -> Result<SearchEnd, FeedError> {
    let Some(mut reader) =
        RangeReader::open(kafka, "streamhub-relay-search", &scope.topic, &scope.ranges)?
    else {
        return Ok(SearchEnd::Complete);
    };
    let silence = kafka.timeout() * 6;
    let mut heard = Instant::now();
    // Evaluation time not yet charged to the client's share, and the time paused for it.
    let mut unbilled = Duration::ZERO;
    let mut paused = Duration::ZERO;
    let mut found = Found {
        batch: Vec::with_capacity(RESULTS_BATCH),
        bytes: 0,
        flushed: Instant::now(),
        out,
    };
    while !reader.is_done() {
        if progress.cancelled.load(Ordering::Relaxed) || found.out.is_closed() {
            return Ok(SearchEnd::Cancelled);
        }
        let message = match reader.next()? {
            Next::Idle if heard.elapsed() > silence => {
                return Ok(SearchEnd::Failed(
                    "the broker sent nothing for the search in time".into(),
                ));
            }
            Next::Idle => continue,
            Next::Outside => {
                heard = Instant::now();
                continue;
            }
            Next::Record(message) => {
                heard = Instant::now();
                message
            }
        };
        progress.scanned.fetch_add(1, Ordering::Relaxed);
        let stamped = message.timestamp().to_millis();
        let in_window = scope
            .since
            .is_none_or(|since| stamped.is_some_and(|t| t >= since))
            && scope
                .until
                .is_none_or(|until| stamped.is_some_and(|t| t < until));
        if !in_window {
            continue;
        }
        schemas.prepare_blocking(runtime, &scope.topic, [message.key(), message.payload()]);
        let mut record = to_stream_record(&message, schemas);
        if let Some(mask) = &scope.mask {
            mask.mask_record(&mut record);
        }
        if let Some(filter) = &scope.filter {
            evaluations.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let verdict = filter.evaluate(&RecordVariables::of(&record));
            unbilled += started.elapsed();
            // Billed in slices: the client's share is behind a lock shared with its streams.
            if unbilled >= BILLED_EVERY {
                let pause = filter.charge_search(std::mem::take(&mut unbilled));
                // A search paused for long holds a turn others wait for: it ends as too costly.
                paused += pause;
                if paused > MAX_PAUSED {
                    return Ok(SearchEnd::ShareSpent);
                }
                if !pause_unless_cancelled(pause, progress) {
                    return Ok(SearchEnd::Cancelled);
                }
            }
            match verdict {
                Verdict::Match => {}
                Verdict::NoMatch => continue,
                Verdict::OverBudget => return Ok(SearchEnd::TooCostly),
            }
        }
        found.push(encode_record(&record));
        let matches = progress.matches.fetch_add(1, Ordering::Relaxed) + 1;
        if matches >= scope.max_matches {
            found.flush();
            return Ok(SearchEnd::Limit);
        }
        if found.due() && !found.flush() {
            return Ok(SearchEnd::Cancelled);
        }
    }
    found.flush();
    Ok(SearchEnd::Complete)
}

/// How much evaluation time a search gathers before it charges it to its client's share.
const BILLED_EVERY: Duration = Duration::from_millis(5);

/// The longest a search may pause for its client's share in all before it ends as too costly.
const MAX_PAUSED: Duration = Duration::from_secs(30);

/// Waits `pause` (on this blocking thread), ending early with `false` when the search is
/// cancelled meanwhile.
fn pause_unless_cancelled(pause: Duration, progress: &Progress) -> bool {
    let until = Instant::now() + pause;
    while Instant::now() < until {
        if progress.cancelled.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    true
}

/// Matches on their way to the socket: sent when a batch is full (in records or bytes), and at
/// least every [`PROGRESS_EVERY`], so that a rare match shows as soon as it is found.
struct Found {
    batch: Vec<EncodedRecord>,
    bytes: usize,
    flushed: Instant,
    out: mpsc::Sender<Vec<EncodedRecord>>,
}

impl Found {
    fn push(&mut self, record: EncodedRecord) {
        self.bytes += record.frame.len();
        self.batch.push(record);
    }

    fn due(&self) -> bool {
        self.batch.len() >= RESULTS_BATCH
            || self.bytes >= RESULTS_BYTES
            || self.flushed.elapsed() >= PROGRESS_EVERY
    }

    /// Sends what is waiting; `false` when nobody listens any more.
    fn flush(&mut self) -> bool {
        self.flushed = Instant::now();
        self.bytes = 0;
        self.batch.is_empty()
            || self
                .out
                .blocking_send(std::mem::take(&mut self.batch))
                .is_ok()
    }
}
