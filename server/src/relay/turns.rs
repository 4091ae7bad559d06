//! Turns for the relay's broker readers on blocking threads: replays (a cap in all and per
//! client, waited for) and searches (a cap in all and per client, refused past it). A client is
//! its address, else its user: in `open` mode one address may name any number of users. A turn
//! is held by the reader itself and given back, and uncounted, when it is dropped.

use super::{Inner, Relay};
use std::sync::{atomic::Ordering, Arc, Weak};

/// A running search's turn: counted (for its searcher and in `streamhub_relay_searches`)
/// until dropped.
pub(crate) struct SearchTurn {
    who: String,
    relay: Weak<Inner>,
}

impl Drop for SearchTurn {
    fn drop(&mut self) {
        if let Some(inner) = self.relay.upgrade() {
            inner.stats.searches.fetch_sub(1, Ordering::Relaxed);
            let mut running = inner.searches.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(count) = running.get_mut(&self.who) {
                *count -= 1;
                if *count == 0 {
                    running.remove(&self.who);
                }
            }
        }
    }
}

/// A running replay's turn: counted in `streamhub_relay_replays` until dropped.
pub(crate) struct ReplayTurn {
    _permit: tokio::sync::OwnedSemaphorePermit,
    /// The client's own turn (given back before its semaphore's hold, below).
    client_turn: Option<tokio::sync::OwnedSemaphorePermit>,
    _client: ClientReplays,
    relay: Weak<Inner>,
}

impl Drop for ReplayTurn {
    fn drop(&mut self) {
        self.client_turn.take();
        if let Some(inner) = self.relay.upgrade() {
            inner.stats.replays.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A hold on one client's replay semaphore, taken before waiting on it (so that a waiter
/// cancelled meanwhile lets go too): the semaphore is forgotten when the last hold goes.
struct ClientReplays {
    client: String,
    turns: Arc<tokio::sync::Semaphore>,
    relay: Weak<Inner>,
}

impl Drop for ClientReplays {
    fn drop(&mut self) {
        let Some(inner) = self.relay.upgrade() else {
            return;
        };
        let mut clients = inner
            .client_replays
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // The map's and this hold are all: nobody else holds, waits for or uses a turn.
        if Arc::strong_count(&self.turns) == 2 {
            clients.remove(&self.client);
        }
    }
}

/// Replays one client runs at once unless configured: a quarter of the relay's (at least one),
/// so that one address's sockets cannot hold every turn.
pub fn replays_per_client(max_concurrent_replays: usize) -> usize {
    (max_concurrent_replays / 4).max(1)
}

impl Relay {
    /// Waits for a replay turn of `client`'s, then one of the relay's (held while the replay
    /// runs); `Err` only if the relay closed them.
    pub(crate) async fn replay_turn(
        &self,
        client: &str,
    ) -> Result<ReplayTurn, tokio::sync::AcquireError> {
        let hold = {
            let mut clients = self
                .inner
                .client_replays
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let per_client = self.inner.limits.max_replays_per_client.max(1);
            ClientReplays {
                client: client.to_owned(),
                turns: clients
                    .entry(client.to_owned())
                    .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(per_client)))
                    .clone(),
                relay: Arc::downgrade(&self.inner),
            }
        };
        let client_turn = hold.turns.clone().acquire_owned().await?;
        let permit = self.inner.replays.clone().acquire_owned().await?;
        self.inner.stats.replays.fetch_add(1, Ordering::Relaxed);
        Ok(ReplayTurn {
            _permit: permit,
            client_turn: Some(client_turn),
            _client: hold,
            relay: Arc::downgrade(&self.inner),
        })
    }

    /// A turn for a search by `who` (a user id, or an address), held while its reader runs;
    /// `None` when `who` or the relay runs as many as they may.
    pub(crate) fn search_turn(&self, who: &str) -> Option<SearchTurn> {
        let mut running = self
            .inner
            .searches
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let total: usize = running.values().sum();
        let mine = running.get(who).copied().unwrap_or(0);
        let limits = &self.inner.limits;
        if total >= limits.max_concurrent_searches || mine >= limits.max_searches_per_user {
            return None;
        }
        *running.entry(who.to_owned()).or_default() += 1;
        self.inner.stats.searches.fetch_add(1, Ordering::Relaxed);
        Some(SearchTurn {
            who: who.to_owned(),
            relay: Arc::downgrade(&self.inner),
        })
    }
}
