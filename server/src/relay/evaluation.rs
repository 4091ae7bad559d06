//! Filter evaluation for the relay's streams, kept from slowing anyone else: evaluations run on
//! blocking threads, at most [`Evaluation::new`]'s `threads` at once (never on the async
//! runtime's workers), and each stream and each client (its address, else its user) has a
//! share of evaluation time per second. A stream whose one evaluation runs past
//! [`crate::filter::EVALUATION_BUDGET`], or that spends more than its share, or whose client does, is ended
//! as too costly, within the batch that did it; its client may not stream that expression
//! again for [`COOL_DOWN`]. A client uses at most [`MAX_FILTERS_PER_CLIENT`] distinct
//! expressions at once. Its searches have a share of their own ([`SEARCH_SHARE`]): past it a
//! search pauses rather than ends.
//!
//! Verdicts already known (another stream of the same expression evaluated the record) cost
//! nothing and are read on the runtime, without a hop to a thread.

use super::{filters::SharedFilter, record::EncodedRecord, refusal::Refusal, Inner, Relay};
use crate::filter::Verdict;
use std::{
    borrow::Borrow,
    collections::HashMap,
    ops::Deref,
    sync::{atomic::Ordering, Arc, Mutex, Weak},
    time::{Duration, Instant},
};
use tokio::sync::Semaphore;

/// Evaluation time one stream may spend per second (and at most at once).
pub const STREAM_SHARE: Duration = Duration::from_millis(100);
/// Evaluation time one client's streams may spend per second in all.
pub const CLIENT_SHARE: Duration = Duration::from_millis(250);
/// Evaluation time one client's searches may spend per second: past it a search pauses until
/// its share has refilled (it is not ended: a search is asked for once and waited for).
pub const SEARCH_SHARE: Duration = Duration::from_millis(250);
/// How long a client may not stream an expression that was ended as too costly.
pub const COOL_DOWN: Duration = Duration::from_secs(60);
/// Distinct expressions one client's streams and searches use at most at once.
pub const MAX_FILTERS_PER_CLIENT: usize = 8;
/// Expressions one client may have cooling down at once; past it the client may start no new
/// expression until the first comes back (a client cycling through expressions is cooled as a
/// whole, and what is kept of it stays bounded).
const MAX_COOLING_PER_CLIENT: usize = 32;
/// Clients kept before those with nothing in use and nothing cooling are swept out.
const SWEEP_PAST_CLIENTS: usize = 4_096;

/// A share of time that refills at its full size every second (a token bucket in time).
#[derive(Debug)]
pub struct Share {
    size: Duration,
    left: Duration,
    refilled: Instant,
}

impl Share {
    /// A full share of `size` per second.
    pub fn new(size: Duration) -> Self {
        Self {
            size,
            left: size,
            refilled: Instant::now(),
        }
    }

    /// What is left now.
    fn left(&mut self) -> Duration {
        let now = Instant::now();
        let refill = self
            .size
            .mul_f64(now.duration_since(self.refilled).as_secs_f64());
        self.left = (self.left + refill).min(self.size);
        self.refilled = now;
        self.left
    }

    /// Takes `spent` from it; `false` when that was more than was left.
    fn spend(&mut self, spent: Duration) -> bool {
        let left = self.left();
        self.left = left.saturating_sub(spent);
        spent <= left
    }

    /// Gives back what a reservation did not use.
    fn refund(&mut self, unused: Duration) {
        self.left = (self.left() + unused).min(self.size);
    }
}

/// Why a batch's evaluation ended its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overrun {
    /// One evaluation took longer than [`crate::filter::EVALUATION_BUDGET`].
    Record,
    /// The stream, or its client, spent its share of evaluation time.
    Share,
}

/// What each client is doing with filters.
#[derive(Default)]
struct Client {
    share: Option<Share>,
    /// The share of its searches (see [`SEARCH_SHARE`]).
    search_share: Option<Share>,
    /// Expressions in use, with how many streams and searches use each.
    in_use: HashMap<String, usize>,
    /// Expressions ended as too costly, with when they may come back.
    cooling: HashMap<String, Instant>,
}

/// The relay's evaluation threads and every client's use of them.
pub struct Evaluation {
    /// Evaluations running at once.
    threads: Arc<Semaphore>,
    clients: Mutex<HashMap<String, Client>>,
}

impl Evaluation {
    /// At most `threads` evaluations at once.
    pub fn new(threads: usize) -> Self {
        Self {
            threads: Arc::new(Semaphore::new(threads.max(1))),
            clients: Mutex::default(),
        }
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<String, Client>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Does `with` to `client`'s state (made if new), under the lock.
    fn client<T>(&self, client: &str, with: impl FnOnce(&mut Client) -> T) -> T {
        with(self.clients().entry(client.to_owned()).or_default())
    }

    /// Does `with` to `client`'s share of evaluation time (made full if new), under the lock.
    fn client_share<T>(&self, client: &str, with: impl FnOnce(&mut Share) -> T) -> T {
        self.client(client, |c| {
            with(c.share.get_or_insert_with(|| Share::new(CLIENT_SHARE)))
        })
    }
}

impl Evaluation {
    /// Charges `spent` of a search's evaluation time to `client`'s share for searches: how
    /// long the search should pause before it evaluates more (zero while the share lasts).
    fn charge_search(&self, client: &str, spent: Duration) -> Duration {
        self.client(client, |c| {
            let share = c
                .search_share
                .get_or_insert_with(|| Share::new(SEARCH_SHARE));
            let left = share.left();
            share.spend(spent);
            // The share refills at its size per second: what was spent past it takes that long.
            spent
                .saturating_sub(left)
                .mul_f64(1.0 / share.size.as_secs_f64())
        })
    }
}

/// The evaluation threads the relay uses by default: all cores but one, so that one is always
/// left to the runtime (and at least one).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// A client's hold on a compiled expression, counted among its distinct ones until dropped.
pub struct FilterLease {
    filter: Arc<SharedFilter>,
    client: String,
    relay: Weak<Inner>,
}

impl std::fmt::Debug for FilterLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("FilterLease")
            .field(&self.filter.source())
            .finish()
    }
}

impl Deref for FilterLease {
    type Target = SharedFilter;
    fn deref(&self) -> &SharedFilter {
        &self.filter
    }
}

impl FilterLease {
    /// Charges a search's evaluation time to its client (see [`SEARCH_SHARE`]): how long the
    /// search should pause before it evaluates more.
    pub fn charge_search(&self, spent: Duration) -> Duration {
        self.relay.upgrade().map_or(Duration::ZERO, |inner| {
            inner.evaluation.charge_search(&self.client, spent)
        })
    }
}

impl Clone for FilterLease {
    fn clone(&self) -> Self {
        if let Some(inner) = self.relay.upgrade() {
            inner.evaluation.client(&self.client, |client| {
                *client
                    .in_use
                    .entry(self.filter.source().to_owned())
                    .or_default() += 1;
            });
        }
        Self {
            filter: self.filter.clone(),
            client: self.client.clone(),
            relay: self.relay.clone(),
        }
    }
}

impl Drop for FilterLease {
    fn drop(&mut self) {
        let Some(inner) = self.relay.upgrade() else {
            return;
        };
        let mut clients = inner.evaluation.clients();
        let Some(client) = clients.get_mut(&self.client) else {
            return;
        };
        if let Some(count) = client.in_use.get_mut(self.filter.source()) {
            *count -= 1;
            if *count == 0 {
                client.in_use.remove(self.filter.source());
            }
        }
        let now = Instant::now();
        client.cooling.retain(|_, until| *until > now);
        // Kept while a share is still refilling: starting again must not give a full one.
        let rested = |share: &mut Option<Share>| share.as_mut().is_none_or(|s| s.left() >= s.size);
        if client.in_use.is_empty()
            && client.cooling.is_empty()
            && rested(&mut client.share)
            && rested(&mut client.search_share)
        {
            clients.remove(&self.client);
        }
    }
}

impl FilterLease {
    /// The shared compiled filter.
    pub fn shared(&self) -> &Arc<SharedFilter> {
        &self.filter
    }
}

impl Relay {
    /// `client`'s hold on the compiled filter for `source`, or why not: it does not compile,
    /// it was ended as too costly for this client a moment ago, or the client uses as many
    /// distinct expressions as it may.
    pub(crate) fn filter_for(&self, client: &str, source: &str) -> Result<FilterLease, Refusal> {
        let filter = self
            .filter(source)
            .map_err(|e| Refusal::InvalidFilter(e.to_string()))?;
        let mut clients = self.inner.evaluation.clients();
        let now = Instant::now();
        if clients.len() > SWEEP_PAST_CLIENTS {
            clients.retain(|_, c| {
                c.cooling.retain(|_, until| *until > now);
                !c.in_use.is_empty() || !c.cooling.is_empty()
            });
        }
        let entry = clients.entry(client.to_owned()).or_default();
        entry.cooling.retain(|_, until| *until > now);
        let barred = match entry.cooling.get(source) {
            Some(until) => Some(*until),
            None if entry.cooling.len() >= MAX_COOLING_PER_CLIENT => {
                entry.cooling.values().min().copied()
            }
            None => None,
        };
        if let Some(until) = barred {
            return Err(Refusal::FilterCoolingDown {
                seconds: until.duration_since(now).as_secs().max(1),
            });
        }
        if !entry.in_use.contains_key(source) && entry.in_use.len() >= MAX_FILTERS_PER_CLIENT {
            return Err(Refusal::TooManyFilters {
                max: MAX_FILTERS_PER_CLIENT,
            });
        }
        *entry.in_use.entry(source.to_owned()).or_default() += 1;
        Ok(FilterLease {
            filter,
            client: client.to_owned(),
            relay: Arc::downgrade(&self.inner),
        })
    }

    /// Keeps the records of `batch` that `lease`'s filter matches, within `stream`'s share and
    /// its client's: `Err` when the stream must end as too costly (its client may then not
    /// stream the expression for [`COOL_DOWN`]), with the records judged before it kept.
    pub(crate) async fn keep_matching<R>(
        &self,
        lease: &FilterLease,
        stream: &mut Share,
        batch: &mut Vec<R>,
    ) -> Result<(), Overrun>
    where
        R: Borrow<EncodedRecord> + Send + 'static,
    {
        let stats = self.stats();
        let before = batch.len();
        let outcome = match keep_known(lease, batch) {
            true => Ok(()),
            false => self.evaluate(lease, stream, batch).await,
        };
        stats
            .filtered_records
            .fetch_add(before.saturating_sub(batch.len()) as u64, Ordering::Relaxed);
        if outcome.is_err() {
            self.inner.evaluation.client(&lease.client, |client| {
                let until = Instant::now() + COOL_DOWN;
                client.cooling.insert(lease.source().to_owned(), until)
            });
        }
        outcome
    }

    /// Evaluates `batch` on an evaluation thread, record by record, until a record takes too
    /// long or the share left runs out.
    async fn evaluate<R>(
        &self,
        lease: &FilterLease,
        stream: &mut Share,
        batch: &mut Vec<R>,
    ) -> Result<(), Overrun>
    where
        R: Borrow<EncodedRecord> + Send + 'static,
    {
        let Ok(thread) = self.inner.evaluation.threads.clone().acquire_owned().await else {
            batch.clear();
            return Ok(());
        };
        // Another stream of the expression may have judged these records while this one
        // waited for the thread (the usual case when many streams share it): their verdicts
        // are read, not judged again, and cost no share.
        if keep_known(lease, batch) {
            return Ok(());
        }
        // The allowance is reserved from the client's share before the work starts, and what
        // it did not use given back after: a stream cancelled meanwhile (restarted, its socket
        // closed) cannot skip the charge, and batches of one client running side by side
        // cannot each spend the whole share.
        let evaluation = &self.inner.evaluation;
        let allowance = evaluation.client_share(&lease.client, |share| {
            let allowance = share.left().min(stream.left());
            share.spend(allowance);
            allowance
        });
        if allowance.is_zero() {
            batch.clear();
            return Err(Overrun::Share);
        }
        let (filter, relay) = (lease.shared().clone(), self.clone());
        let records = std::mem::take(batch);
        let judged = tokio::task::spawn_blocking(move || {
            // The thread's turn goes with the work, not with whoever waits for it.
            let _thread = thread;
            judge(
                &filter,
                records,
                allowance,
                &relay.stats().filter_evaluations,
            )
        })
        .await;
        let Ok(Judged {
            kept,
            spent,
            overrun,
        }) = judged
        else {
            return Err(Overrun::Record);
        };
        *batch = kept;
        evaluation.client_share(&lease.client, |share| {
            share.refund(allowance.saturating_sub(spent))
        });
        stream.spend(spent);
        match overrun {
            Some(overrun) => Err(overrun),
            None => Ok(()),
        }
    }
}

/// Keeps the records of `batch` that `lease`'s filter matches when every one's verdict is
/// known already; `false` (and `batch` untouched) when some must be judged.
fn keep_known<R: Borrow<EncodedRecord>>(lease: &FilterLease, batch: &mut Vec<R>) -> bool {
    let Some(verdicts) = known_verdicts(lease, batch) else {
        return false;
    };
    let mut verdicts = verdicts.into_iter();
    batch.retain(|_| verdicts.next() == Some(Verdict::Match));
    true
}

/// Every record's verdict when another stream of the same expression judged them all already.
fn known_verdicts<R: Borrow<EncodedRecord>>(
    lease: &FilterLease,
    batch: &[R],
) -> Option<Vec<Verdict>> {
    batch
        .iter()
        .map(|r| r.borrow().verdicts.known(lease.shared()))
        .collect()
}

/// What one batch's evaluation kept and cost.
struct Judged<R> {
    kept: Vec<R>,
    spent: Duration,
    overrun: Option<Overrun>,
}

/// Judges `records` in order on this (blocking) thread, and stops at the first record that
/// takes longer than [`crate::filter::EVALUATION_BUDGET`] or once `allowance` is spent.
fn judge<R: Borrow<EncodedRecord>>(
    filter: &SharedFilter,
    records: Vec<R>,
    allowance: Duration,
    evaluations: &std::sync::atomic::AtomicU64,
) -> Judged<R> {
    let started = Instant::now();
    let mut kept = Vec::with_capacity(records.len());
    let mut overrun = None;
    for record in records {
        let verdict = record
            .borrow()
            .verdicts
            .of(filter, record.borrow().json(), evaluations);
        match verdict {
            Verdict::Match => kept.push(record),
            Verdict::NoMatch => {}
            Verdict::OverBudget => {
                overrun = Some(Overrun::Record);
                break;
            }
        }
        if started.elapsed() > allowance {
            overrun = Some(Overrun::Share);
            break;
        }
    }
    Judged {
        kept,
        spent: started.elapsed(),
        overrun,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_searches_pause_once_they_spent_their_share() {
        let evaluation = Evaluation::new(1);
        let ms = Duration::from_millis;
        assert_eq!(evaluation.charge_search("a", ms(100)), Duration::ZERO);
        // 150 ms were left of 250: the other 250 take a second to refill.
        let pause = evaluation.charge_search("a", ms(400));
        assert!(pause > ms(950) && pause <= ms(1_000), "{pause:?}");
        // Another client has its own share; streams keep theirs.
        assert_eq!(evaluation.charge_search("b", ms(200)), Duration::ZERO);
        assert_eq!(
            evaluation.client_share("a", |share| share.left()),
            CLIENT_SHARE
        );
    }

    #[test]
    fn a_share_refills_at_its_size_per_second_and_says_when_it_was_overspent() {
        let mut share = Share::new(Duration::from_millis(100));
        assert!(share.spend(Duration::from_millis(60)));
        assert!(
            !share.spend(Duration::from_millis(60)),
            "only 40 ms were left"
        );
        assert!(share.left() < Duration::from_millis(5));
        // It refills at its size per second: a fifth of a second gives back a fifth of it...
        std::thread::sleep(Duration::from_millis(200));
        let refilled = share.left();
        assert!(
            refilled >= Duration::from_millis(19) && refilled < Duration::from_millis(60),
            "{refilled:?}"
        );
        // ...and never more than its size.
        std::thread::sleep(Duration::from_millis(1_100));
        assert_eq!(
            share.left(),
            Duration::from_millis(100),
            "full again, not more"
        );
        share.spend(Duration::from_millis(100));
        share.refund(Duration::from_millis(30));
        assert!(share.left() >= Duration::from_millis(30));
    }
}
