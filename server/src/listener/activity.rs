//! What one connection is doing, so that its driver can tell a connection at work from one
//! that only holds its slot: requests in flight (counted from the moment their headers are read
//! until their response body is dropped), stream sockets it carries, and when a response body
//! last moved. A connection with nothing in flight for the header timeout is closed, and so is
//! one whose response body has not been read for [`STALL_FACTOR`] header timeouts (a client
//! that stopped reading). A body waiting for the server itself (a page rendered as it goes,
//! waiting for a slow look-up) is not a stalled reader.

use super::{
    idle::{Idle, IdleConnections},
    ConnectionSlot,
};
use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::Response,
};
use std::{
    future::Future,
    net::SocketAddr,
    pin::{pin, Pin},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::{sync::watch, time::Instant};

/// A response body not read for this many header timeouts ends its connection.
pub const STALL_FACTOR: u32 = 6;

/// How much a connection carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Load {
    /// Requests in flight and stream sockets held.
    busy: usize,
    /// Of those, responses whose body is being sent.
    sending: usize,
}

/// One connection's activity, shared by its requests (as a request extension) and its driver.
#[derive(Clone)]
pub struct ConnectionActivity(Arc<Activity>);

struct Activity {
    load: watch::Sender<Load>,
    since: Instant,
    /// When a response body last moved, in milliseconds after `since`.
    progress_ms: AtomicU64,
    /// Response bodies waiting for the server to produce their next part (not for the client
    /// to read the last one).
    producing: AtomicUsize,
}

impl ConnectionActivity {
    fn new() -> Self {
        Self(Arc::new(Activity {
            load: watch::Sender::new(Load::default()),
            since: Instant::now(),
            progress_ms: AtomicU64::new(0),
            producing: AtomicUsize::new(0),
        }))
    }

    /// Counts the connection as busy while the guard lives. A stream socket over HTTP/2 holds
    /// one: its request ended with the upgrade, but the connection carries it on.
    pub fn hold(&self) -> Busy {
        self.0.load.send_modify(|load| load.busy += 1);
        Busy {
            activity: self.0.clone(),
            sending: false,
        }
    }

    /// The guard of a request whose response is now being sent.
    fn sending(&self, mut busy: Busy) -> Busy {
        self.touch();
        self.0.load.send_modify(|load| load.sending += 1);
        busy.sending = true;
        busy
    }

    fn touch(&self) {
        let ms = self.0.since.elapsed().as_millis();
        self.0
            .progress_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Whether a response body waits for the server rather than for the client.
    fn producing(&self) -> bool {
        self.0.producing.load(Ordering::Relaxed) > 0
    }

    fn last_progress(&self) -> Instant {
        self.0.since + Duration::from_millis(self.0.progress_ms.load(Ordering::Relaxed))
    }
}

/// A request in flight, or a stream socket, on a connection; counted off when dropped.
pub struct Busy {
    activity: Arc<Activity>,
    sending: bool,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let sending = self.sending;
        self.activity.load.send_modify(|load| {
            load.busy = load.busy.saturating_sub(1);
            if sending {
                load.sending = load.sending.saturating_sub(1);
            }
        });
    }
}

/// What every request on one connection carries.
#[derive(Clone)]
pub struct PerConnection {
    pub addr: SocketAddr,
    pub slot: ConnectionSlot,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted: Arc<crate::forwarded::TrustedProxies>,
    pub activity: ConnectionActivity,
}

impl PerConnection {
    pub fn new(
        addr: SocketAddr,
        slot: ConnectionSlot,
        trusted: Arc<crate::forwarded::TrustedProxies>,
    ) -> Self {
        Self {
            addr,
            slot,
            trusted,
            activity: ConnectionActivity::new(),
        }
    }
}

/// Middleware, once per connection: gives each request the peer address (as
/// `ConnectInfo<SocketAddr>`, like `into_make_service_with_connect_info`), the connection's slot
/// and activity, and counts it in flight until its response body is dropped (sent or
/// abandoned).
pub async fn track(
    State(connection): State<PerConnection>,
    mut request: Request,
    next: Next,
) -> Response {
    let busy = connection.activity.hold();
    // Behind a trusted proxy, the client it names (see `forwarded`).
    let client = connection
        .trusted
        .client(connection.addr, request.headers());
    let extensions = request.extensions_mut();
    extensions.insert(ConnectInfo(client));
    extensions.insert(connection.slot.clone());
    extensions.insert(connection.activity.clone());
    let response = next.run(request).await;
    let busy = connection.activity.sending(busy);
    response.map(|body| {
        Body::new(TrackedBody {
            body,
            activity: connection.activity,
            producing: false,
            _busy: busy,
        })
    })
}

/// A response body that keeps its request counted while it lives, and says when it moves.
struct TrackedBody {
    body: Body,
    activity: ConnectionActivity,
    /// Whether the last poll found the body waiting for the server (counted in the activity's
    /// `producing`).
    producing: bool,
    _busy: Busy,
}

impl TrackedBody {
    fn set_producing(&mut self, producing: bool) {
        if producing != self.producing {
            self.producing = producing;
            let counter = &self.activity.0.producing;
            match producing {
                true => counter.fetch_add(1, Ordering::Relaxed),
                false => counter.fetch_sub(1, Ordering::Relaxed),
            };
        }
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.set_producing(false);
    }
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.activity.touch();
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        self.set_producing(polled.is_pending());
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Runs one connection to its end. It is shut down gracefully (requests in flight and HTTP/2
/// streams finish, no new ones start) once the server stops, once it has had nothing in flight
/// for `timeout`, or once a response body has not moved for [`STALL_FACTOR`] × `timeout`; what
/// is still unfinished `timeout` after that is dropped. While it has nothing in flight it is
/// among the `idle`, and dropped at once when a newcomer needs its slot.
pub async fn drive<C, E>(
    connection: C,
    shut_down: impl FnOnce(Pin<&mut C>),
    activity: &ConnectionActivity,
    idle: &Arc<IdleConnections>,
    mut stop: watch::Receiver<bool>,
    timeout: Duration,
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    let mut connection = pin!(connection);
    let mut load = activity.0.load.subscribe();
    let stall = timeout * STALL_FACTOR;
    let mut idle_mark = None;
    // Until its first request, a connection is among those that give way first.
    let mut served = false;
    loop {
        let now = *load.borrow_and_update();
        let deadline = if now.busy == 0 {
            Some(Instant::now() + timeout)
        } else if now.sending > 0 {
            Some(activity.last_progress() + stall)
        } else {
            None
        };
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // Idle since it last had nothing in flight, however often the loop goes round.
        if now.busy == 0 {
            let kind = if served {
                Idle::Between
            } else {
                Idle::Unserved
            };
            idle_mark.get_or_insert_with(|| idle.enter(kind));
        } else {
            served = true;
            idle_mark = None;
        }
        let displaced = async {
            match idle_mark.as_mut() {
                Some(mark) => mark.displaced().await,
                None => std::future::pending().await,
            }
        };
        let close = tokio::select! {
            result = connection.as_mut() => return result,
            () = displaced => {
                if load.borrow().busy == 0 {
                    // Nothing in flight to finish: the slot is freed now, not after a
                    // graceful shutdown a client could drag out (a half-sent request, an
                    // HTTP/2 ping left unanswered).
                    return Ok(());
                }
                // It turned busy as it was told: the next idle one gives way instead.
                idle_mark = None;
                idle.displace_oldest();
                false
            }
            // Ends the wait on every change: the timers start again from now.
            changed = load.changed() => changed.is_err(),
            _ = stop.wait_for(|stopped| *stopped) => true,
            () = timer => {
                let now = *load.borrow();
                let unread = now.sending > 0 && activity.last_progress().elapsed() >= stall;
                if unread && activity.producing() {
                    // The server, not the client, is behind: the wait starts again from now.
                    activity.touch();
                    false
                } else {
                    now.busy == 0 || unread
                }
            }
        };
        if close {
            shut_down(connection.as_mut());
            return tokio::time::timeout(timeout, connection)
                .await
                .unwrap_or(Ok(()));
        }
    }
}
