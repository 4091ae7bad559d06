//! One WebSocket connection for its whole life: who is on the other end ([`Peer`]), and the
//! select loop that hears the client's frames, the user's subscription changes, sign-outs,
//! the sign-in's expiry, silence and shutdown — each arm a method of [`Connection`]. What a
//! client frame does is in [`control`]; who may stream or search what in [`access`]; saved and
//! stored positions in [`positions`]. Each stream is a forwarder task of its own
//! (`relay::forward`) writing through the socket's [`Outlet`]: a slow client lags on its own
//! streams, nobody else waits.

mod access;
mod control;
mod positions;

use super::{
    forward::{end, Position, MAX_BATCH, REPLAYS_PER_SOCKET},
    outlet::Outlet,
    refusal::Refusal,
    search::RunningSearch,
    ConnectionSlot, Relay, Revocation, SubscriptionChange, TopicNotice,
};
use crate::store::Store;
use app::{
    stream::{ServerFrame, StartPosition},
    wire::{Subscription, TopicStatus},
};
use axum::extract::ws::{Message, WebSocket};
use futures::StreamExt;
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};
use tokio::{
    sync::{broadcast, broadcast::error::RecvError, Semaphore},
    task::JoinHandle,
    time::Instant,
};

/// Server pings keep proxies from closing idle sockets and tell us the client is alive.
const PING_EVERY: Duration = Duration::from_secs(20);
/// A client that sends nothing (not even a pong) for this long is gone.
const SILENCE_LIMIT: Duration = Duration::from_secs(75);

/// Who is on the other end.
pub struct Peer {
    pub user_id: Option<String>,
    /// Who reads through the socket, for the rules of who may read what (`crate::access`).
    pub viewer: crate::access::Viewer,
    /// Stream the user's subscriptions by themselves (else only what the client asks for).
    pub follow: bool,
    pub admin: bool,
    /// The dashboard session the admin right came from (`None` for the admin token, which
    /// signing out does not revoke): when it is signed out, the right goes.
    pub admin_session: Option<String>,
    /// What the socket rides on in `oidc` mode (a person's or an admin's): their session's id,
    /// or `token:<id>` for a personal access token. When it is signed out or revoked, the
    /// socket is told and closed.
    pub person_session: Option<String>,
    /// When the session or token the socket rides on expires (seconds since the epoch): a
    /// person's socket is then told and closed, an admin session's loses the admin right.
    pub ends_at: Option<i64>,
    /// The socket was opened with a `read` personal access token: it changes nothing (no
    /// `save_position`).
    pub read_only: bool,
    /// Sign-outs, listened to since before the session was read (see [`Relay::revoked_sessions`]).
    pub revocations: broadcast::Receiver<Revocation>,
}

/// What the loop does after an event.
enum Flow {
    Continue,
    /// The socket ends.
    Close,
}

/// Serves one socket until either side ends it; `slot` is its place among the relay's
/// connections, given back when it ends.
pub async fn serve(
    socket: WebSocket,
    relay: Relay,
    store: Store,
    mut peer: Peer,
    slot: ConnectionSlot,
) {
    let (sink, mut incoming) = socket.split();
    let outlet = Outlet::new(sink, relay.clone());
    let mut shutdown = relay.shutdown_signal();
    let mut connection = Connection::new(relay.clone(), store, outlet.clone(), &peer, &slot);
    connection
        .send(&ServerFrame::Hello {
            user_id: peer.user_id.clone(),
            max_batch: MAX_BATCH,
        })
        .await;
    let mut changes = relay.changes();
    let mut topic_notices = relay.topic_notices();
    let following = peer.user_id.is_some() && peer.follow;
    if following {
        connection.reconcile_subscriptions(true).await;
    }
    let mut expiry = peer.ends_at.map(|at| {
        let left = u64::try_from(at - crate::sessions::unix_now()).unwrap_or(0);
        Box::pin(tokio::time::sleep(Duration::from_secs(left)))
    });
    let mut last_heard = Instant::now();
    let mut silence = tokio::time::interval(Duration::from_secs(5));
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        let flow = tokio::select! {
            frame = incoming.next() => match frame {
                Some(Ok(frame)) => {
                    last_heard = Instant::now();
                    connection.on_frame(frame).await
                }
                _ => Flow::Close,
            },
            change = changes.recv(), if peer.user_id.is_some() => {
                connection.on_subscription_change(change, following).await
            }
            id = peer.revocations.recv(), if connection.rides_on_a_sign_in(&peer) => {
                connection.on_revocation(id, &peer).await
            }
            () = async {
                match expiry.as_mut() {
                    Some(at) => at.await,
                    None => std::future::pending().await,
                }
            } => {
                expiry = None;
                connection.on_expiry(&peer).await
            }
            notice = topic_notices.recv() => connection.on_topic_notice(notice, following).await,
            _ = silence.tick() => match last_heard.elapsed() > SILENCE_LIMIT {
                true => Flow::Close,
                false => Flow::Continue,
            },
            _ = ping.tick() => {
                outlet.send(Message::Ping(Default::default())).await;
                Flow::Continue
            }
            _ = outlet.broken() => Flow::Close,
            _ = shutdown.changed() => {
                outlet.close(1001, "server shutting down").await;
                Flow::Close
            }
        };
        if let Flow::Close = flow {
            break;
        }
    }
    for (_, task) in connection.streams.drain() {
        task.abort();
    }
    drop(slot);
}

/// One socket's state: what it streams, its search, its allowance of control frames.
struct Connection {
    relay: Relay,
    store: Store,
    user_id: Option<String>,
    admin: bool,
    /// Who reads through it (private topics exist for their owners and admins only).
    viewer: crate::access::Viewer,
    /// Opened with a `read` token: nothing it asks may change anything.
    read_only: bool,
    outlet: Outlet,
    streams: HashMap<String, JoinHandle<()>>,
    /// Streams this socket has because its user subscribes to them (not by admin right): a
    /// REST unsubscribe ends them.
    by_subscription: HashSet<String>,
    /// Replays this socket may run at once (its streams wait for a turn beyond that).
    replays: Arc<Semaphore>,
    /// This socket's search, if it started one (cancelled when replaced or dropped).
    search: Option<RunningSearch>,
    /// Where each of its streams stands.
    positions: HashMap<String, Position>,
    /// Who this socket's searches, replays and filter evaluations count against: a signed-in
    /// person, else its address (a client may name any user it likes in `open` mode), else its
    /// user.
    client: String,
    /// The allowance of control frames (see [`control`]).
    allowance: control::Allowance,
}

impl Connection {
    fn new(relay: Relay, store: Store, outlet: Outlet, peer: &Peer, slot: &ConnectionSlot) -> Self {
        Self {
            relay,
            store,
            user_id: peer.user_id.clone(),
            admin: peer.admin,
            viewer: peer.viewer.clone(),
            read_only: peer.read_only,
            outlet,
            streams: HashMap::new(),
            by_subscription: HashSet::new(),
            replays: Arc::new(Semaphore::new(REPLAYS_PER_SOCKET)),
            search: None,
            positions: HashMap::new(),
            // A person the identity provider vouched for is counted as themself (colleagues
            // behind one NAT are not one client); anyone else by address, since in `open` mode
            // a client names any user it likes.
            client: match (&peer.person_session, &peer.user_id, slot.addr) {
                (Some(_), Some(user), _) => format!("user:{user}"),
                (_, _, Some(addr)) => format!("addr:{addr}"),
                (_, Some(user), None) => format!("user:{user}"),
                (_, None, None) => "anyone".to_owned(),
            },
            allowance: control::Allowance::new(),
        }
    }

    async fn send(&self, frame: &ServerFrame) {
        self.outlet.send_frame(frame).await;
    }

    /// Tells the client why its request was refused.
    async fn refuse(&self, refusal: Refusal) {
        self.send(&refusal.frame()).await;
    }

    /// A frame from the client.
    async fn on_frame(&mut self, frame: Message) -> Flow {
        match frame {
            Message::Text(text) => self.control(text.as_str()).await,
            Message::Binary(_) => self.refuse(Refusal::Unsupported).await,
            Message::Close(_) => return Flow::Close,
            Message::Ping(_) | Message::Pong(_) => {}
        }
        Flow::Continue
    }

    /// A change of some user's subscriptions. A socket that named its user hears about that
    /// user's: following sockets start and stop with them; others stop a topic they stream
    /// because of the subscription (an admin watching by right keeps it).
    async fn on_subscription_change(
        &mut self,
        change: Result<SubscriptionChange, RecvError>,
        following: bool,
    ) -> Flow {
        match change {
            Ok(change) if Some(&change.user_id) == self.user_id.as_ref() => {
                if !change.added && !self.admin {
                    self.cancel_search_of(&change.topic);
                }
                if change.added && following {
                    self.subscribe(&change.topic, StartPosition::Latest, true, None)
                        .await;
                } else if !change.added
                    && (following || self.by_subscription.contains(&change.topic))
                {
                    self.stop(&change.topic, "unsubscribed").await;
                }
            }
            Ok(_) => {}
            // Missed announcements (an unsubscribe among them, perhaps): re-read the user's
            // subscriptions and act on the difference.
            Err(RecvError::Lagged(_)) => self.reconcile_subscriptions(following).await,
            Err(RecvError::Closed) => {}
        }
        Flow::Continue
    }

    /// A topic ended, or who may read it changed: its search ends; after a change of rules its
    /// stream ends too (`unsubscribed`, reason `access_changed`), for the client to start it
    /// again under the new ones (a socket following its user's subscriptions starts them again
    /// itself). Missed notices (a lag) may have hidden a change of rules: every stream and the
    /// search end as if each had one.
    async fn on_topic_notice(
        &mut self,
        notice: Result<TopicNotice, RecvError>,
        following: bool,
    ) -> Flow {
        let changed: Vec<String> = match notice {
            Ok(TopicNotice::Ended(topic)) => {
                self.cancel_search_of(&topic);
                return Flow::Continue;
            }
            Ok(TopicNotice::AccessChanged(topic)) => vec![topic],
            Err(RecvError::Lagged(_)) => {
                if let Some(search) = &self.search {
                    search.cancel();
                }
                self.streams.keys().cloned().collect()
            }
            Err(RecvError::Closed) => return Flow::Continue,
        };
        for topic in changed {
            self.cancel_search_of(&topic);
            self.stop(&topic, "access_changed").await;
        }
        if following {
            self.reconcile_subscriptions(true).await;
        }
        Flow::Continue
    }

    /// Whether the socket rides on a sign-in that a sign-out or revocation can end.
    fn rides_on_a_sign_in(&self, peer: &Peer) -> bool {
        (self.admin && peer.admin_session.is_some()) || peer.person_session.is_some()
    }

    /// A session was signed out or a token revoked. A lag may have hidden this socket's among
    /// them: assume it did.
    async fn on_revocation(&mut self, id: Result<Revocation, RecvError>, peer: &Peer) -> Flow {
        let ended = |session: &Option<String>| match &id {
            Ok(revocation) => session.as_deref().is_some_and(|s| revocation.ends(s)),
            Err(RecvError::Lagged(_)) => session.is_some(),
            Err(RecvError::Closed) => false,
        };
        if ended(&peer.person_session) {
            self.refuse(Refusal::SignedOut).await;
            return Flow::Close;
        }
        if self.admin && ended(&peer.admin_session) {
            self.lose_admin_right().await;
        }
        Flow::Continue
    }

    /// The sign-in the socket rides on expired: a person's socket ends, an admin session's
    /// loses the admin right.
    async fn on_expiry(&mut self, peer: &Peer) -> Flow {
        if peer.admin_session.is_some() && peer.person_session.is_none() {
            self.lose_admin_right().await;
            Flow::Continue
        } else {
            self.refuse(Refusal::SessionExpired).await;
            Flow::Close
        }
    }

    /// Brings the socket in line with its user's subscriptions as stored: streams held by a
    /// subscription that is gone stop, and (when `follow`) every active subscribed topic not
    /// streamed yet starts. Run at start and after missed change announcements.
    async fn reconcile_subscriptions(&mut self, follow: bool) {
        let Some(user) = self.user_id.clone() else {
            return;
        };
        // A request waiting for the owners grants nothing: it is not followed, and a
        // subscription revoked back to one ends its stream.
        let subscriptions: Vec<_> = match self.store.subscriptions(Some(&user)).await {
            Ok(subscriptions) => subscriptions
                .into_iter()
                .filter(Subscription::is_active)
                .collect(),
            Err(e) => return self.refuse(e.into()).await,
        };
        let gone: Vec<String> = self
            .by_subscription
            .iter()
            .filter(|topic| !subscriptions.iter().any(|s| &s.topic_name == *topic))
            .cloned()
            .collect();
        for topic in gone {
            self.stop(&topic, "unsubscribed").await;
        }
        if !follow {
            return;
        }
        for s in subscriptions {
            if s.topic_status == TopicStatus::Active && !self.streams.contains_key(&s.topic_name) {
                self.subscribe(&s.topic_name, StartPosition::Latest, true, None)
                    .await;
            }
        }
    }

    /// Cancels the socket's search if it reads `topic` (it then ends `cancelled`): the socket
    /// may no longer read the topic, or the topic is no longer active.
    fn cancel_search_of(&mut self, topic: &str) {
        if let Some(search) = self.search.as_ref().filter(|s| s.topic == topic) {
            search.cancel();
        }
    }

    /// Ends the stream of `topic` (if any) and tells the client why.
    async fn stop(&mut self, topic: &str, reason: &str) {
        self.by_subscription.remove(topic);
        self.positions.remove(topic);
        if let Some(task) = self.streams.remove(topic) {
            end(task).await;
            self.send(&ServerFrame::Unsubscribed {
                topic: topic.to_owned(),
                reason: reason.to_owned(),
            })
            .await;
        }
    }

    /// The session that made this socket an admin's was signed out: streams the user does not
    /// subscribe to end (`unsubscribed`, reason `signed_out`); the socket stays open.
    async fn lose_admin_right(&mut self) {
        self.admin = false;
        if let Some(topic) = self.search.as_ref().map(|s| s.topic.clone()) {
            if !self.user_subscribes(&topic).await {
                self.cancel_search_of(&topic);
            }
        }
        let topics: Vec<String> = self.streams.keys().cloned().collect();
        for topic in topics {
            if !self.user_subscribes(&topic).await {
                self.stop(&topic, "signed_out").await;
            }
        }
    }
}
