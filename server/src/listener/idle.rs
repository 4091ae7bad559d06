//! Connections that hold a slot with nothing in flight: a client that has connected but not yet
//! sent a whole request, or a keep-alive connection between requests. When every slot is taken,
//! a newcomer takes the place of one of them instead of waiting in the kernel's backlog. Without
//! this, a flood of silent connections would hold every slot for a header timeout each and keep
//! a real client waiting (or, once the backlog overflows, losing its handshake to the kernel's
//! retransmission timers). Those that have not finished a request yet give way first, longest
//! waiting first, so a flood of them displaces itself before any client that has been served;
//! keep-alive connections give way only when none of those is left. Connections at work (a
//! request in flight, a stream socket) are never displaced.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};
use tokio::sync::oneshot;

/// Every idle connection of one server, by kind, in the order they became idle.
#[derive(Default)]
pub struct IdleConnections(Mutex<Waiting>);

/// Which idle connections give way first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Connected, but no whole request yet (silent, or sending its headers slowly).
    Unserved,
    /// Served at least one request; kept alive for the next.
    Between,
}

#[derive(Default)]
struct Waiting {
    next: u64,
    /// By when they became idle; each told through its sender when it is to give way.
    unserved: BTreeMap<u64, oneshot::Sender<()>>,
    between: BTreeMap<u64, oneshot::Sender<()>>,
}

impl Waiting {
    fn of(&mut self, kind: Idle) -> &mut BTreeMap<u64, oneshot::Sender<()>> {
        match kind {
            Idle::Unserved => &mut self.unserved,
            Idle::Between => &mut self.between,
        }
    }
}

impl IdleConnections {
    fn waiting(&self) -> MutexGuard<'_, Waiting> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a connection idle, as `kind`, until the mark is dropped.
    pub fn enter(self: &Arc<Self>, kind: Idle) -> IdleMark {
        let (tell, told) = oneshot::channel();
        let mut waiting = self.waiting();
        let id = waiting.next;
        waiting.next += 1;
        waiting.of(kind).insert(id, tell);
        IdleMark {
            connections: self.clone(),
            kind,
            id,
            told,
        }
    }

    /// Whether some connection could give way now.
    pub fn any(&self) -> bool {
        let waiting = self.waiting();
        !waiting.unserved.is_empty() || !waiting.between.is_empty()
    }

    /// Tells one idle connection to give up its slot (the longest waiting of those not yet
    /// served, else the longest kept alive); `false` when none is idle.
    pub fn displace_oldest(&self) -> bool {
        let mut waiting = self.waiting();
        for kind in [Idle::Unserved, Idle::Between] {
            while let Some((_, tell)) = waiting.of(kind).pop_first() {
                // A mark dropped meanwhile has left the map already, so this is a formality.
                if tell.send(()).is_ok() {
                    return true;
                }
            }
        }
        false
    }
}

/// One connection's place among the idle ones; it leaves them when dropped.
pub struct IdleMark {
    connections: Arc<IdleConnections>,
    kind: Idle,
    id: u64,
    told: oneshot::Receiver<()>,
}

impl IdleMark {
    /// Resolves once a newcomer needs this connection's slot.
    pub async fn displaced(&mut self) {
        // The sender only goes away by being sent on, or with this mark.
        let _ = (&mut self.told).await;
    }
}

impl Drop for IdleMark {
    fn drop(&mut self) {
        let kind = self.kind;
        self.connections.waiting().of(kind).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_longest_idle_gives_way_first_and_busy_ones_never() {
        let idle = Arc::new(IdleConnections::default());
        let mut first = idle.enter(Idle::Unserved);
        let busy_again = idle.enter(Idle::Unserved);
        let mut third = idle.enter(Idle::Unserved);
        drop(busy_again);
        assert!(idle.displace_oldest());
        tokio::time::timeout(Duration::from_secs(1), first.displaced())
            .await
            .expect("the oldest is told");
        let not_yet = tokio::time::timeout(Duration::from_millis(50), third.displaced()).await;
        assert!(not_yet.is_err(), "only one gives way per newcomer");
        assert!(idle.displace_oldest());
        third.displaced().await;
        assert!(!idle.any());
        assert!(!idle.displace_oldest());
    }

    #[tokio::test]
    async fn connections_served_before_give_way_only_after_those_not_yet_served() {
        let idle = Arc::new(IdleConnections::default());
        let mut kept_alive = idle.enter(Idle::Between);
        let mut silent = idle.enter(Idle::Unserved);
        assert!(idle.displace_oldest());
        tokio::time::timeout(Duration::from_secs(1), silent.displaced())
            .await
            .expect("the younger silent one is told first");
        let not_yet = tokio::time::timeout(Duration::from_millis(50), kept_alive.displaced()).await;
        assert!(not_yet.is_err());
        assert!(idle.displace_oldest());
        kept_alive.displaced().await;
    }
}
