//! Knowing that the database is down, so that callers hear it at once.
//!
//! Without it, every request during a PostgreSQL outage would wait for the pool's acquire
//! timeout (seconds of connection attempts) before its 503, and pile up meanwhile. Instead, a
//! store call that fails as unavailable raises a suspicion, and a watcher looks: a connection of
//! the pools that answers, or a fresh connection the server answers at all (even with a refusal:
//! too many clients, a wrong password), means the database is there. Only when nothing answers
//! (refused, reset, silent, shutting down, starting up) is the database known down: every store
//! call then answers `Unavailable` at once, and the watcher tries again every [`RETRY`] until
//! something answers, when calls go through again. Health hears each change
//! ([`Outage::changes`]) and reports it without waiting for its next round.
//!
//! A busy pool is not an outage: its callers wait and time out as before, and nothing else is
//! refused.

use super::StoreError;
use std::{
    future::Future,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};
use tokio::sync::{watch, Notify};

/// How often the watcher tries the database while it is down: what bounds the time from its
/// return to the first call that goes through.
pub(super) const RETRY: Duration = Duration::from_millis(200);
/// How long one try may take before it counts as unanswered (a silent host answers nothing):
/// above a lost connection attempt's first retransmission (1 s) and a slow sign-in's round trips.
pub(super) const TRY_FOR: Duration = Duration::from_millis(2500);
/// After a try that found the database there, suspicions raised meanwhile are let go and the
/// next is looked at no sooner than this: a stream of failing calls does not become a stream of
/// connection attempts.
const CALM: Duration = Duration::from_secs(1);
/// How often the watcher looks whether its store closed, when nothing raises a suspicion.
const IDLE: Duration = Duration::from_secs(1);

/// Whether the database is known down. One per store.
pub(super) struct Outage {
    down: AtomicBool,
    /// Rung by a call that failed as unavailable: the watcher looks.
    suspicion: Notify,
    /// `true` while down; health watches it.
    changes: watch::Sender<bool>,
}

impl Default for Outage {
    fn default() -> Self {
        Self {
            down: AtomicBool::new(false),
            suspicion: Notify::new(),
            changes: watch::channel(false).0,
        }
    }
}

impl Outage {
    /// `Err(Unavailable)` at once while the database is known down.
    pub(super) fn refuse_while_down(&self) -> Result<(), StoreError> {
        match self.is_down() {
            true => Err(Self::refusal()),
            false => Ok(()),
        }
    }

    /// `call`'s answer, unless the database becomes known down first: then `Unavailable` at
    /// once, and the call is dropped. A call that started just before the outage was known
    /// would otherwise go on waiting for the pool, holding a place in it (sqlx retries its
    /// connection attempts with a back-off of up to a fifth of its timeout), and delay the
    /// calls after the database's return.
    pub(super) async fn unless_down<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let mut changes = self.changes.subscribe();
        tokio::select! {
            biased;
            result = call => result,
            Ok(_) = changes.wait_for(|down| *down) => Err(Self::refusal()),
        }
    }

    fn refusal() -> StoreError {
        // What the watcher found is in the log, not in answers: it may name users and hosts.
        StoreError::Unavailable(format!(
            "the database cannot be reached (known down: refused at once, retried every {} ms)",
            RETRY.as_millis()
        ))
    }

    /// Passes a call's result on, raising a suspicion if it failed as unavailable.
    pub(super) fn observe<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if matches!(result, Err(StoreError::Unavailable(_))) {
            self.suspect();
        }
        result
    }

    /// Has the watcher look (unless it knows the database is down already): a call failed as
    /// unavailable, or got no answer within its caller's own deadline.
    pub(super) fn suspect(&self) {
        if !self.is_down() {
            self.suspicion.notify_one();
        }
    }

    /// Whether the database is known down now.
    pub(super) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// `true` while the database is known down, `false` while not; changes as it does.
    pub(super) fn changes(&self) -> watch::Receiver<bool> {
        self.changes.subscribe()
    }

    fn set(&self, is_down: bool) {
        self.down.store(is_down, Ordering::Release);
        // Watchers hear changes, not each try.
        self.changes.send_if_modified(|was_down| {
            let changed = *was_down != is_down;
            *was_down = is_down;
            changed
        });
    }

    /// Looks whether the database answers, with `try_connect`, after each suspicion, and while
    /// it does not every [`RETRY`], until `closed` says the store is closed. `try_connect`
    /// answers `Err` with what it found only when nothing answered.
    pub(super) async fn watch<F, Fut>(&self, try_connect: F, closed: impl Fn() -> bool)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let attempt = async || match tokio::time::timeout(TRY_FOR, try_connect()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", TRY_FOR.as_millis())),
        };
        while !closed() {
            tokio::select! {
                _ = self.suspicion.notified() => {}
                _ = tokio::time::sleep(IDLE) => continue,
            }
            let Err(reason) = attempt().await else {
                tokio::time::sleep(CALM).await;
                // Suspicions raised meanwhile were about what was just found there.
                let _ = futures::FutureExt::now_or_never(self.suspicion.notified());
                continue;
            };
            tracing::warn!(
                error = %reason,
                retry_ms = RETRY.as_millis() as u64,
                "the database is down; store calls are refused at once until it is back"
            );
            self.set(true);
            let since = tokio::time::Instant::now();
            let mut last = reason;
            loop {
                tokio::time::sleep(RETRY).await;
                if closed() {
                    return;
                }
                match attempt().await {
                    Ok(()) => break,
                    Err(reason) if reason != last => {
                        tracing::warn!(error = %reason, "the database is still down");
                        last = reason;
                    }
                    Err(_) => {}
                }
            }
            self.set(false);
            tracing::info!(
                down_ms = since.elapsed().as_millis() as u64,
                "the database is back"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{
        atomic::{AtomicBool, AtomicUsize},
        Arc,
    };

    /// A watcher over a database whose reachability the test sets.
    fn watched(reachable: &Arc<AtomicBool>, tries: &Arc<AtomicUsize>) -> Arc<Outage> {
        let outage = Arc::new(Outage::default());
        let (reachable, tries, watcher) = (reachable.clone(), tries.clone(), outage.clone());
        tokio::spawn(async move {
            let try_connect = || {
                tries.fetch_add(1, Ordering::SeqCst);
                let up = reachable.load(Ordering::SeqCst);
                async move {
                    if up {
                        Ok(())
                    } else {
                        Err("connection refused".to_owned())
                    }
                }
            };
            watcher.watch(try_connect, || false).await;
        });
        outage
    }

    fn unavailable() -> Result<(), StoreError> {
        Err(StoreError::Unavailable("pool timed out".into()))
    }

    #[tokio::test]
    async fn a_failed_call_with_the_database_down_makes_later_calls_fail_at_once_until_it_is_back()
    {
        let (reachable, tries) = (Arc::new(AtomicBool::new(false)), Arc::default());
        tokio::task::yield_now().await;
        let outage = watched(&reachable, &tries);
        assert!(
            outage.refuse_while_down().is_ok(),
            "not known down before any failure"
        );
        let mut changes = outage.changes();
        let _ = outage.observe(unavailable());
        changes.changed().await.unwrap();
        assert!(*changes.borrow_and_update());
        let refused = outage.refuse_while_down().unwrap_err().to_string();
        assert!(
            refused.contains("refused") && refused.contains("known down"),
            "{refused}"
        );
        assert!(
            !refused.contains("connection refused"),
            "what the try found stays in the log"
        );
        // Each failed try is no news to the watchers.
        tokio::time::sleep(RETRY * 3).await;
        assert!(!changes.has_changed().unwrap(), "told of every failed try");

        // Back: the next try lets calls through again.
        let back_at = tokio::time::Instant::now();
        reachable.store(true, Ordering::SeqCst);
        changes.changed().await.unwrap();
        assert!(!*changes.borrow_and_update());
        // The next try, RETRY at most later (and the try's own moment).
        assert!(back_at.elapsed() < RETRY * 2, "{:?}", back_at.elapsed());
        assert!(outage.refuse_while_down().is_ok());
    }

    #[tokio::test]
    async fn a_call_that_got_no_answer_in_its_callers_time_has_the_watcher_look() {
        let (reachable, tries) = (Arc::new(AtomicBool::new(false)), Arc::default());
        let outage = watched(&reachable, &tries);
        tokio::task::yield_now().await;
        let mut changes = outage.changes();
        // No call failed (its caller gave up first): the watcher looks all the same.
        outage.suspect();
        tokio::time::timeout(Duration::from_millis(500), changes.changed())
            .await
            .expect("looked at once, not at the next idle round")
            .unwrap();
        assert!(outage.refuse_while_down().is_err());
    }

    #[tokio::test]
    async fn a_call_in_flight_when_the_database_becomes_known_down_is_refused_at_once() {
        let (reachable, tries) = (Arc::new(AtomicBool::new(false)), Arc::default());
        let outage = watched(&reachable, &tries);
        tokio::task::yield_now().await;
        // A call waiting for the pool, which would wait for its whole timeout.
        let waiting = outage.unless_down(std::future::pending::<Result<(), StoreError>>());
        let another_fails = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = outage.observe(unavailable());
            std::future::pending::<()>().await
        };
        let result = tokio::time::timeout(Duration::from_secs(1), async {
            tokio::select! {
                result = waiting => result,
                _ = another_fails => unreachable!(),
            }
        })
        .await
        .expect("refused as soon as the database was known down");
        let error = result.unwrap_err().to_string();
        assert!(error.contains("known down"), "{error}");
    }

    #[tokio::test]
    async fn a_failed_call_with_the_database_reachable_refuses_nothing() {
        let (reachable, tries) = (
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicUsize::new(0)),
        );
        let outage = watched(&reachable, &tries);
        tokio::task::yield_now().await;
        let _ = outage.observe(unavailable());
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(tries.load(Ordering::SeqCst), 1, "the suspicion was checked");
        assert!(
            outage.refuse_while_down().is_ok(),
            "a busy pool is no outage"
        );
        // More failures right after a look that found the database there are let go.
        let _ = outage.observe(unavailable());
        let _ = outage.observe(unavailable());
        tokio::time::sleep(CALM + Duration::from_millis(300)).await;
        assert_eq!(tries.load(Ordering::SeqCst), 1, "one look per calm period");
        // Other errors raise no suspicion.
        let _ = outage.observe::<()>(Err(StoreError::TopicNotFound("t".into())));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }
}
