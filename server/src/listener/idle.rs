//! Connections that hold a slot with nothing in flight, longest idle first: a client that has
//! connected but not yet sent its request, or a keep-alive connection between requests. When
//! every slot is taken, a newcomer takes the place of the longest idle connection instead of
//! waiting in the kernel's backlog behind it. Without this, a flood of silent connections
//! would hold every slot for a header timeout each and keep a real client waiting (or, once the
//! backlog overflows, losing its handshake to the kernel's retransmission timers); with it, the
//! flood only ever displaces itself. Connections at work (a request in flight, a stream socket)
//! are never displaced.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};
use tokio::sync::oneshot;

/// Every idle connection of one server, in the order they became idle.
#[derive(Default)]
pub struct IdleConnections(Mutex<Waiting>);

#[derive(Default)]
struct Waiting {
    next: u64,
    /// By when they became idle; each told through its sender when it is to give way.
    by_age: BTreeMap<u64, oneshot::Sender<()>>,
}

impl IdleConnections {
    fn waiting(&self) -> MutexGuard<'_, Waiting> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a connection idle until the mark is dropped.
    pub fn enter(self: &Arc<Self>) -> IdleMark {
        let (tell, told) = oneshot::channel();
        let mut waiting = self.waiting();
        let id = waiting.next;
        waiting.next += 1;
        waiting.by_age.insert(id, tell);
        IdleMark {
            connections: self.clone(),
            id,
            told,
        }
    }

    /// Whether some connection could give way now.
    pub fn any(&self) -> bool {
        !self.waiting().by_age.is_empty()
    }

    /// Tells the longest idle connection to give up its slot; `false` when none is idle.
    pub fn displace_oldest(&self) -> bool {
        let mut waiting = self.waiting();
        while let Some((_, tell)) = waiting.by_age.pop_first() {
            // A mark dropped meanwhile has left the map already, so this is only a formality.
            if tell.send(()).is_ok() {
                return true;
            }
        }
        false
    }
}

/// One connection's place among the idle ones; it leaves them when dropped.
pub struct IdleMark {
    connections: Arc<IdleConnections>,
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
        self.connections.waiting().by_age.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_longest_idle_gives_way_first_and_busy_ones_never() {
        let idle = Arc::new(IdleConnections::default());
        let mut first = idle.enter();
        let busy_again = idle.enter();
        let mut third = idle.enter();
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
}
