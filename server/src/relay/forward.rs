//! One stream of one topic on one socket, for as long as it runs: the replay of the asked
//! range, then the live records from the topic's feed in batches, through the stream's filter
//! when it has one. A feed that closes under a stream whose topic is still active is rejoined
//! at the stream's own positions (no gap, no duplicate). Also the ranges a stream replays, at
//! its start and when it resumes. The socket starts and ends streams; it never reads records.

use super::{
    blocking::{blocking, joined},
    evaluation::{FilterLease, Overrun, Share, CLIENT_SHARE, STREAM_SHARE},
    feed::{LiveReceiver, LiveRecord},
    masked::MaskView,
    outlet::Outlet,
    record::{records_frame, EncodedRecord},
    refusal::Refusal,
    replay::replay,
    Relay,
};
use crate::{
    filter::EVALUATION_BUDGET,
    store::{Store, TopicKey},
};
use app::{
    stream::{ServerFrame, StartPosition},
    wire::TopicStatus,
};
use axum::extract::ws::{Message, Utf8Bytes};
use std::{
    borrow::Borrow,
    collections::BTreeMap,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};
use tokio::{
    sync::{mpsc, Semaphore},
    task::JoinHandle,
};

/// Most records in one `records` frame.
pub const MAX_BATCH: usize = 500;
/// Most bytes of records in one frame: it bounds what a stalled socket holds on the server
/// (a frame per streamed topic) beyond the shared broadcast buffer.
const MAX_FRAME_BYTES: usize = 256 * 1024;
/// Replays one socket runs at once; its other streams wait their turn.
pub const REPLAYS_PER_SOCKET: usize = 2;

/// Where each partition of `topic` begins (its low watermark), from the broker.
async fn log_starts(
    relay: &Relay,
    topic: &str,
    partitions: i32,
) -> Result<BTreeMap<i32, i64>, Refusal> {
    let (relay, topic) = (relay.clone(), topic.to_owned());
    let marks = blocking(move || relay.watermarks(&topic, partitions))
        .await
        .map_err(Refusal::BrokerUnavailable)?;
    Ok(marks.into_iter().map(|(p, (low, _))| (p, low)).collect())
}

/// Per partition, the range a stream that joined its feed at `join` replays first for a start
/// at `start` (a stored position arrives as the offsets it stands for): nothing for `latest`,
/// else from where each partition's log begins, cut to the relay's replay limit.
pub async fn start_ranges(
    relay: &Relay,
    topic: &str,
    partitions: i32,
    start: &StartPosition,
    join: &BTreeMap<i32, i64>,
) -> Result<BTreeMap<i32, (i64, i64)>, Refusal> {
    let marks = match start {
        // Nothing to replay: no need to ask the broker where the log begins.
        StartPosition::Latest => join.iter().map(|(p, next)| (*p, (*next, *next))).collect(),
        _ => {
            let starts = log_starts(relay, topic, partitions).await?;
            join.iter()
                .map(|(p, next)| (*p, (starts.get(p).copied().unwrap_or(0).min(*next), *next)))
                .collect()
        }
    };
    Ok(replay_ranges(start, &marks, relay.limits().max_replay))
}

/// Per partition, `[start, end)` to replay before joining the live stream at `end`.
fn replay_ranges(
    from: &StartPosition,
    marks: &BTreeMap<i32, (i64, i64)>,
    max_replay: i64,
) -> BTreeMap<i32, (i64, i64)> {
    marks
        .iter()
        .map(|(p, (low, high))| {
            let bounded_low = (*low).max(high - max_replay);
            let start = match from {
                // A stored position arrives here as the offsets it stands for.
                StartPosition::Latest | StartPosition::Stored => *high,
                // Older records are skipped while replaying (see `replay`'s `not_before`): exact
                // on any broker, whether or not it answers offsets-for-times lookups.
                StartPosition::Earliest | StartPosition::Timestamp { .. } => bounded_low,
                StartPosition::Last { n } => {
                    (high - i64::try_from(*n).unwrap_or(i64::MAX)).max(bounded_low)
                }
                StartPosition::Offsets { offsets } => offsets
                    .get(*p)
                    .map(|o| o.clamp(bounded_low, *high))
                    .unwrap_or(*high),
            };
            (*p, (start, *high))
        })
        .collect()
}

/// Stops a forwarder and waits until it has stopped, so that nothing of its stream is written
/// after the frame that says it ended.
pub async fn end(task: JoinHandle<()>) {
    task.abort();
    let _ = task.await;
}

pub struct Forward {
    pub relay: Relay,
    pub store: Store,
    pub topic: String,
    pub receiver: LiveReceiver,
    /// Per partition, where `receiver` joined the feed: live records before it come from the
    /// replay (or came earlier) and are dropped.
    pub join: BTreeMap<i32, i64>,
    /// Per partition, the offset of the next record this socket is owed: where it resumes if
    /// its feed stops under it.
    pub next: BTreeMap<i32, i64>,
    pub ranges: BTreeMap<i32, (i64, i64)>,
    /// Replayed records stamped before this (ms since the epoch) are not sent.
    pub not_before: Option<i64>,
    pub outlet: Outlet,
    /// The socket's replay turns (see [`REPLAYS_PER_SOCKET`]).
    pub replays: Arc<Semaphore>,
    /// Who the stream counts against for replay turns (its socket's client).
    pub client: String,
    /// [`Relay::topic_epoch`] when the stream (or its latest feed) started: a replay stops
    /// when the topic ends.
    pub epoch: u64,
    /// Only the records this matches are sent (positions still advance past the others).
    pub filter: Option<FilterLease>,
    /// The masks this stream's reader gets (applied before the filter looks at a record).
    pub mask: Option<Arc<MaskView>>,
    /// The stream's share of evaluation time.
    pub share: Share,
    /// Where the stream stands (partition → the next offset it hands out), for the socket to
    /// save as its user's position.
    pub position: Position,
}

/// A stream's position, shared between its task and its socket.
pub type Position = Arc<std::sync::Mutex<BTreeMap<i32, i64>>>;

impl Forward {
    /// Makes `next` (for the partitions it names) the stream's published position.
    fn publish(&self, next: impl IntoIterator<Item = (i32, i64)>) {
        let mut position = self.position.lock().unwrap_or_else(|p| p.into_inner());
        position.extend(next);
    }
}

/// How the live part of a stream ended.
enum LiveEnd {
    /// The socket is gone (nothing more can be sent).
    SocketGone,
    /// The feed closed: the topic was deactivated, or its feed stopped for another reason.
    FeedClosed,
    /// The stream's filter went over its budget; the client was told.
    FilterStopped,
}

/// How a stream goes on after its feed closed.
enum AfterFeed {
    /// It joined a new feed and replays what it missed in between.
    Resumed,
    /// It ended with the frame that says why.
    Ended(ServerFrame),
}

/// Sends one `records` frame; `false` when the socket is gone. A lone record goes out as the
/// frame the feed built for it, shared by every socket (the usual case at modest rates: each
/// wake-up finds one record); several are framed together here.
async fn send_records<'a>(
    f: &Forward,
    mut records: impl ExactSizeIterator<Item = &'a EncodedRecord>,
) -> bool {
    let count = records.len() as u64;
    let frame: Utf8Bytes = match (count, records.next()) {
        (1, Some(only)) => only.frame.clone(),
        (_, first) => records_frame(first.into_iter().chain(records).map(|r| r.json())).into(),
    };
    f.relay
        .stats()
        .records_sent
        .fetch_add(count, Ordering::Relaxed);
    f.outlet.send(Message::Text(frame)).await
}

/// Replays, then forwards live records in batches until the socket goes, the topic is no
/// longer active or the task is aborted. A feed that stops while the topic is still active (a
/// quick deactivate and reactivate, a feed task that died) is rejoined at this socket's own
/// positions: no gap, no duplicate.
pub async fn forward(mut f: Forward) {
    loop {
        let Some(complete) = send_replay(&mut f).await else {
            return;
        };
        f.next.clone_from(&f.join);
        // A replay that stopped early leaves the position where it got to, and says nothing
        // of having caught up.
        if complete {
            f.publish(f.join.clone());
        }
        if complete && f.filter.is_some() {
            let frame = ServerFrame::CaughtUp {
                topic: f.topic.clone(),
                next_offsets: f.join.iter().map(|(p, o)| (*p, *o)).collect(),
            };
            if !f.outlet.send_frame(&frame).await {
                return;
            }
        }
        match send_live(&mut f).await {
            LiveEnd::SocketGone | LiveEnd::FilterStopped => return,
            LiveEnd::FeedClosed => {}
        }
        match after_feed_closed(&mut f).await {
            AfterFeed::Resumed => continue,
            AfterFeed::Ended(frame) => {
                f.outlet.send_frame(&frame).await;
                return;
            }
        }
    }
}

/// Sends the records of `f.ranges` (those not stamped before `f.not_before`): `Some(true)` when
/// all were looked at, `Some(false)` when the replay stopped early (the client was told),
/// `None` when the socket is gone.
async fn send_replay(f: &mut Forward) -> Option<bool> {
    if !f.ranges.values().any(|(start, end)| start < end) {
        return Some(true);
    }
    // A turn of this socket's, then one of the relay's: each replay is a broker reader on a
    // blocking thread, and those are shared with everything else the server does.
    // Both are held by the reader itself: a stream that is replaced releases its turns only
    // once its reader has stopped.
    let (Ok(socket_turn), Ok(relay_turn)) = (
        f.replays.clone().acquire_owned().await,
        f.relay.replay_turn(&f.client).await,
    ) else {
        return Some(true);
    };
    let (batches, mut replayed) = mpsc::channel::<Vec<EncodedRecord>>(4);
    let (kafka, topic, ranges) = (f.relay.kafka().clone(), f.topic.clone(), f.ranges.clone());
    let not_before = f.not_before;
    let (schemas, runtime) = (f.relay.schemas().clone(), tokio::runtime::Handle::current());
    let reader = tokio::task::spawn_blocking(move || {
        let _turns = (socket_turn, relay_turn);
        replay(
            &kafka,
            &topic,
            &ranges,
            not_before,
            MAX_BATCH,
            (&schemas, &runtime),
            batches,
        )
    });
    while let Some(mut batch) = replayed.recv().await {
        // Deactivated meanwhile: the rest of the replay is not sent (dropping the channel stops
        // the reader); the closed feed then ends the stream with its `topic_state`.
        if f.relay.topic_epoch(&f.topic) != f.epoch {
            return Some(false);
        }
        let taken: Vec<(i32, i64)> = batch.iter().map(|r| (r.partition, r.offset + 1)).collect();
        if let Some(mask) = &f.mask {
            batch = batch.iter().map(|r| mask.mask(r)).collect();
        }
        if !keep_matching(f, &mut batch).await {
            return None;
        }
        if !batch.is_empty() && !send_records(f, batch.iter()).await {
            return None;
        }
        f.publish(taken);
    }
    if let Err(why) = joined(reader.await) {
        let refusal = Refusal::ReplayFailed {
            topic: f.topic.clone(),
            why,
        };
        f.outlet.send_frame(&refusal.frame()).await;
        return Some(false);
    }
    Some(true)
}

/// Keeps the records of `batch` that the stream's filter (if any) matches, within the
/// stream's and its client's share of evaluation time. `false` when the filter was too costly:
/// the client is told, and the stream must end.
async fn keep_matching<R>(f: &mut Forward, batch: &mut Vec<R>) -> bool
where
    R: Borrow<EncodedRecord> + Send + 'static,
{
    let Some(filter) = &f.filter else {
        return true;
    };
    let overrun = match f.relay.keep_matching(filter, &mut f.share, batch).await {
        Ok(()) => return true,
        Err(overrun) => overrun,
    };
    let refusal = match overrun {
        Overrun::Record => Refusal::FilterTooCostly {
            topic: f.topic.clone(),
            budget_ms: EVALUATION_BUDGET.as_millis(),
        },
        Overrun::Share => Refusal::FilterShareSpent {
            topic: f.topic.clone(),
            stream_ms: STREAM_SHARE.as_millis(),
            client_ms: CLIENT_SHARE.as_millis(),
        },
    };
    f.outlet.send_frame(&refusal.frame()).await;
    f.outlet
        .send_frame(&ServerFrame::Unsubscribed {
            topic: f.topic.clone(),
            reason: "filter_too_costly".into(),
        })
        .await;
    false
}

/// Tells the client it misses `skipped` records of this stream (if any), and counts them.
async fn report_skipped(f: &Forward, skipped: u64) {
    if skipped == 0 {
        return;
    }
    let stats = f.relay.stats();
    stats.lagged_events.fetch_add(1, Ordering::Relaxed);
    stats.skipped_records.fetch_add(skipped, Ordering::Relaxed);
    f.outlet
        .send_frame(&ServerFrame::Lagged {
            topic: f.topic.clone(),
            skipped,
        })
        .await;
}

/// Forwards live records in batches until the feed closes or the socket goes.
async fn send_live(f: &mut Forward) -> LiveEnd {
    let mut batch: Vec<LiveRecord> = Vec::with_capacity(MAX_BATCH);
    loop {
        let taken = f
            .receiver
            .take(&mut batch, MAX_BATCH, MAX_FRAME_BYTES)
            .await;
        let (skipped, ended) = (taken.skipped, taken.closed);
        report_skipped(f, skipped).await;
        // Records the replay already sent (or older than where this stream joined) are dropped.
        batch.retain(|r| r.offset >= f.join.get(&r.partition).copied().unwrap_or(0));
        // Each partition's records come in order: the last one taken says where it stands,
        // whether or not the filter lets it through.
        for r in &batch {
            f.next.insert(r.partition, r.offset + 1);
        }
        let taken: Vec<(i32, i64)> = batch.iter().map(|r| (r.partition, r.offset + 1)).collect();
        if let Some(mask) = &f.mask {
            for record in &mut batch {
                *record = mask.mask_shared(record);
            }
        }
        if !keep_matching(f, &mut batch).await {
            return LiveEnd::FilterStopped;
        }
        if !batch.is_empty() {
            if !send_records(f, batch.iter().map(|r| &**r)).await {
                return LiveEnd::SocketGone;
            }
            batch.clear();
        }
        // Only what was handed to the socket counts as where the stream stands.
        f.publish(taken);
        if ended {
            return LiveEnd::FeedClosed;
        }
    }
}

/// Attempts at joining a new feed before a stream whose feed closed gives up.
const REJOIN_ATTEMPTS: u32 = 5;

/// After the feed closed: ends the stream if the topic is no longer active (or cannot be
/// rejoined), else joins a new feed and sets up the replay from this socket's positions to it.
async fn after_feed_closed(f: &mut Forward) -> AfterFeed {
    let mut last_error = String::new();
    for attempt in 0..REJOIN_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // Read before the store says "active", so that a deactivation after it is noticed.
        let epoch = f.relay.topic_epoch(&f.topic);
        match f.store.topic_uncounted(TopicKey::Name(&f.topic)).await {
            Ok(Some(t)) if t.status == TopicStatus::Active => {}
            Ok(Some(_)) => {
                return AfterFeed::Ended(ServerFrame::TopicState {
                    topic: f.topic.clone(),
                    state: "inactive".into(),
                })
            }
            Ok(None) => break,
            Err(e) => {
                last_error = e.to_string();
                continue;
            }
        }
        match f.relay.join(&f.topic, epoch).await {
            Ok(joined) => {
                let max_replay = f.relay.limits().max_replay;
                let (ranges, skipped) = resume_ranges(&f.next, &joined.positions, max_replay);
                tracing::debug!(topic = %f.topic, ?ranges, skipped, "stream moved to a new feed");
                report_skipped(f, skipped).await;
                f.receiver = joined.receiver;
                f.epoch = epoch;
                f.join = joined.positions;
                f.ranges = ranges;
                f.not_before = None;
                return AfterFeed::Resumed;
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    if !last_error.is_empty() {
        tracing::warn!(topic = %f.topic, error = %last_error, "stream could not rejoin its topic's feed");
    }
    AfterFeed::Ended(ServerFrame::Unsubscribed {
        topic: f.topic.clone(),
        reason: "ended".into(),
    })
}

/// Per partition, the replay from where a socket is (`next`) to where its new feed joined
/// (`join`), cut to the newest `max_replay`; and how many records that cut skips.
fn resume_ranges(
    next: &BTreeMap<i32, i64>,
    join: &BTreeMap<i32, i64>,
    max_replay: i64,
) -> (BTreeMap<i32, (i64, i64)>, u64) {
    let mut skipped = 0_u64;
    let ranges = join
        .iter()
        .map(|(p, end)| {
            // A partition the socket has not seen yet, or one that starts over (the topic
            // recreated), joins live.
            let at = next.get(p).copied().filter(|at| at <= end).unwrap_or(*end);
            let start = at.max(end - max_replay);
            skipped += u64::try_from(start - at).unwrap_or(0);
            (*p, (start, *end))
        })
        .collect();
    (ranges, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_stream_replays_from_its_own_positions_to_the_new_feed() {
        let next = BTreeMap::from([(0, 10), (1, 50), (2, 7)]);
        // Partition 0 moved on, 1 did not, 2 starts over (recreated), 3 is new.
        let join = BTreeMap::from([(0, 25), (1, 50), (2, 3), (3, 4)]);
        let (ranges, skipped) = resume_ranges(&next, &join, 1000);
        assert_eq!(
            ranges,
            BTreeMap::from([(0, (10, 25)), (1, (50, 50)), (2, (3, 3)), (3, (4, 4))])
        );
        assert_eq!(skipped, 0);
        // Past the replay limit the oldest are skipped, and counted.
        let (ranges, skipped) = resume_ranges(&next, &join, 5);
        assert_eq!(ranges[&0], (20, 25));
        assert_eq!(skipped, 10);
    }

    #[test]
    fn replay_ranges_follow_the_start_position() {
        let marks = BTreeMap::from([(0, (0, 100)), (1, (50, 60))]);
        let r = |from| replay_ranges(&from, &marks, 1000);
        assert_eq!(
            r(StartPosition::Latest),
            BTreeMap::from([(0, (100, 100)), (1, (60, 60))])
        );
        assert_eq!(
            r(StartPosition::Earliest),
            BTreeMap::from([(0, (0, 100)), (1, (50, 60))])
        );
        assert_eq!(
            r(StartPosition::Last { n: 20 }),
            BTreeMap::from([(0, (80, 100)), (1, (50, 60))])
        );
        let offsets = StartPosition::Offsets {
            offsets: [(0, 90), (1, 10)].into(),
        };
        assert_eq!(r(offsets), BTreeMap::from([(0, (90, 100)), (1, (50, 60))]));
        // The replay limit bounds `earliest`.
        assert_eq!(
            replay_ranges(&StartPosition::Earliest, &marks, 30),
            BTreeMap::from([(0, (70, 100)), (1, (50, 60))])
        );
    }
}
