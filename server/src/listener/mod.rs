//! Accepting connections: what `axum::serve` does, plus bounds against connection floods. A
//! client must send its request headers within a timeout, counted from the moment it connects
//! (hyper's own timer starts at the first byte, so a silent connection is bounded here); without
//! it, connections that send nothing or trickle bytes (slowloris) would each hold a file
//! descriptor forever. And at most so many connections are served at once, instead of the
//! process running out of descriptors: past that, a newcomer takes the place of the longest idle
//! connection (see [`idle`]), and when none is idle it waits in the kernel's backlog until a slot
//! frees.
//! A connection that has no request in flight for as long as the header timeout is closed too:
//! hyper closes an idle HTTP/1 keep-alive connection by itself, but an HTTP/2 connection that
//! answers pings and opens no stream would otherwise hold its slot forever.

mod activity;
mod idle;

use activity::{drive, track, PerConnection};
pub use activity::{Busy, ConnectionActivity};
use axum::{middleware, Router};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto::Builder,
    service::TowerToHyperService,
};
use idle::{Idle, IdleConnections};
use std::{future::Future, net::IpAddr, sync::Arc, time::Duration};
use tokio::{
    net::TcpListener,
    sync::{watch, OwnedSemaphorePermit, Semaphore},
};
use tower::ServiceBuilder;

/// How many connections one server takes, how long each may stay silent, and whose they are.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request's headers, from connecting or from the end
    /// of its previous request.
    pub header_timeout: Duration,
    /// Connections served at once (stream sockets included: they keep their [`ConnectionSlot`]).
    pub max_connections: usize,
    /// Connections served at once from one client address: one address cannot take all of
    /// `max_connections` (more from it are closed at once). Trusted proxies are not capped:
    /// every client behind them comes through their addresses.
    pub max_per_addr: usize,
    /// Proxies whose `X-Forwarded-For` names the client each request is from.
    pub trusted_proxies: crate::forwarded::TrustedProxies,
}

/// Requests one HTTP/2 connection may have in flight at once.
const MAX_STREAMS_PER_CONNECTION: u32 = 32;

/// How long a newcomer waits for the slot of the idle connection it displaced before it tells
/// the next one (a displaced connection frees its slot at once, unless it turned busy).
const DISPLACEMENT_WAIT: Duration = Duration::from_millis(50);

/// The first bytes of every HTTP/2 connection without TLS.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection's place among the `max_connections` served at once. A stream socket keeps its
/// connection's place after the upgrade (hyper is done with it then), so that sockets and plain
/// requests together stay within the limit the open files budget set.
#[derive(Clone)]
pub struct ConnectionSlot(
    #[allow(dead_code, reason = "held, never read")] Arc<OwnedSemaphorePermit>,
);

/// Serves `router` until `shutdown` resolves, then stops accepting and waits for requests in
/// flight. Handlers see the peer address as `ConnectInfo<SocketAddr>`, as with
/// `into_make_service_with_connect_info`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut stop_rx_main = stop_rx.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    // Each connection task holds a clone; when all are dropped, every connection is done.
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(1);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_addr = Arc::new(PerAddress::default());
    let trusted = Arc::new(limits.trusted_proxies.clone());
    let idle = Arc::new(IdleConnections::default());
    let mut saturated = false;
    'accepting: loop {
        if slots.available_permits() == 0 && !saturated {
            tracing::warn!(
                max_connections = limits.max_connections,
                "connection limit reached: newcomers displace idle connections, or wait"
            );
        }
        saturated = slots.available_permits() == 0;
        // A free slot; or none, but an idle connection to give its slot to the next newcomer;
        // or else a wait for a slot to free.
        let free = match slots.clone().try_acquire_owned() {
            Ok(slot) => Some(slot),
            Err(_) if idle.any() => None,
            Err(_) => tokio::select! {
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => Some(slot),
                    Err(_) => break, // never closed
                },
                _ = stop_rx_main.changed() => break,
            },
        };
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop_rx_main.changed() => break,
        };
        let cap = if limits.trusted_proxies.contains(addr.ip()) {
            usize::MAX
        } else {
            limits.max_per_addr
        };
        let Some(from_addr) = per_addr.admit(addr.ip(), cap) else {
            tracing::debug!(%addr, "closed a connection: its address has the most it may open");
            continue;
        };
        // A slot may have freed while this one was being accepted.
        let free = free.or_else(|| slots.clone().try_acquire_owned().ok());
        let slot = match free {
            Some(slot) => ConnectionSlot(Arc::new(slot)),
            None => loop {
                // A displaced connection is dropped at once and frees its slot (one that turned
                // busy just as it was told passes the word on to the next idle one). Each wait
                // is short, so that whatever holds a slot up, the next idle one is told.
                if idle.displace_oldest() {
                    tracing::debug!(%addr, "an idle connection gave its slot to a newcomer");
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => break ConnectionSlot(Arc::new(slot)),
                        Err(_) => break 'accepting, // never closed
                    },
                    () = tokio::time::sleep(DISPLACEMENT_WAIT) => continue,
                    _ = stop_rx_main.changed() => break 'accepting,
                }
            },
        };
        let connection = PerConnection::new(addr, slot.clone(), trusted.clone());
        let activity = connection.activity.clone();
        // One layer around the whole router (`Router::layer` would wrap every route anew).
        let service = TowerToHyperService::new(
            ServiceBuilder::new()
                .map_request(|request: hyper::Request<hyper::body::Incoming>| {
                    request.map(axum::body::Body::new)
                })
                .layer(middleware::from_fn_with_state(connection, track))
                .service(router.clone()),
        );
        let stop = stop_rx.clone();
        let done = done_tx.clone();
        let idle = idle.clone();
        // Idle from the start: it has sent nothing yet.
        let mut silent = idle.enter(Idle::Unserved);
        tokio::spawn(async move {
            // All are released when the task ends, however it ends.
            let (_slot, _done, _from_addr) = (slot, done, from_addr);
            // hyper's header timer starts at the first byte, and its protocol detection waits
            // for the whole HTTP/2 preface: both are bounded here.
            let sniffed = tokio::select! {
                // Bytes already here win over a displacement told at the same time.
                biased;
                sniffed = sniff_protocol(&stream, limits.header_timeout) => sniffed,
                () = silent.displaced() => false,
            };
            drop(silent);
            if !sniffed {
                tracing::debug!(%addr, "closed a connection that sent too little in time");
                return;
            }
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            // An HTTP/2 connection that stops answering pings is closed.
            // Streams at once per HTTP/2 connection (hyper's default is 200): a connection's
            // requests are what one HTTP/1 connection does one at a time, within reason.
            builder
                .http2()
                .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
                .enable_connect_protocol()
                .timer(TokioTimer::new())
                .keep_alive_interval(Some(limits.header_timeout))
                .keep_alive_timeout(limits.header_timeout);
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let ended = drive(
                connection,
                |c| c.graceful_shutdown(),
                &activity,
                &idle,
                stop,
                limits.header_timeout,
            )
            .await;
            if let Err(e) = ended {
                tracing::debug!(%addr, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    drop(done_tx);
    let _ = done_rx.recv().await;
}

/// Waits (at most `deadline`) until the client has sent enough to tell its protocol: a byte
/// that does not start the HTTP/2 preface (HTTP/1, whose headers hyper then times), or the whole
/// preface. `false` when it sent nothing, a part of the preface only, or closed. `peek` leaves
/// the bytes for hyper.
async fn sniff_protocol(stream: &tokio::net::TcpStream, deadline: Duration) -> bool {
    let sniffing = async {
        let mut seen = [0_u8; H2_PREFACE.len()];
        loop {
            let n = stream.peek(&mut seen).await.unwrap_or(0);
            if n == 0 {
                return false;
            }
            if seen[..n] != H2_PREFACE[..n] || n == H2_PREFACE.len() {
                return true;
            }
            // A part of the preface: wait for the rest (peek returns at once while bytes wait).
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(deadline, sniffing)
        .await
        .unwrap_or(false)
}

/// Connections open per client address.
#[derive(Default)]
struct PerAddress(std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>);

/// One connection's place in its address's count; given back when dropped.
struct FromAddress {
    counts: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    /// A place for one more connection from `ip`, unless it has `max` already.
    fn admit(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<FromAddress> {
        let ip = crate::rate_limit::client_of(ip);
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(ip).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(FromAddress {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for FromAddress {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests;
