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
mod tests {
    use super::*;
    use axum::routing::get;
    use std::{net::SocketAddr, time::Instant};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };

    const TIMEOUT: Duration = Duration::from_millis(300);

    /// A server answering `GET /` with `ok`, at most `max_connections` at once.
    async fn spawn(max_connections: usize) -> SocketAddr {
        let router = Router::new().route("/", get(|| async { "ok" }));
        serving(router, max_connections, 1_000).await
    }

    /// `router` served with the header timeout [`TIMEOUT`], at most `max_connections` at once
    /// and `max_per_addr` from one address; its address.
    async fn serving(router: Router, max_connections: usize, max_per_addr: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = ConnectionLimits {
            header_timeout: TIMEOUT,
            max_connections,
            max_per_addr,
            trusted_proxies: Default::default(),
        };
        tokio::spawn(serve(listener, router, limits, std::future::pending()));
        addr
    }

    /// Reads until the server closes the connection; what it sent.
    async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
        let mut seen = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut seen))
            .await
            .expect("the server closes the connection")
            .unwrap_or_default();
        seen
    }

    async fn get_root(addr: SocketAddr) -> Vec<u8> {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        read_to_close(&mut stream).await
    }

    #[tokio::test]
    async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
        let addr = spawn(8).await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        assert!(read_to_close(&mut silent).await.is_empty());
        assert!(started.elapsed() >= TIMEOUT - Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_connection_that_sends_part_of_the_http2_preface_is_closed_in_time() {
        let addr = spawn(8).await;
        for part in [&b"P"[..], b"PRI * HTTP/2.0\r\n"] {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(part).await.unwrap();
            let started = Instant::now();
            read_to_close(&mut stream).await;
            assert!(started.elapsed() < TIMEOUT * 3, "{:?}", started.elapsed());
        }
        // HTTP/1 still works, also when its first byte is the preface's.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            )
            .await
            .unwrap();
        assert!(read_to_close(&mut stream)
            .await
            .starts_with(b"HTTP/1.1 405"));
    }

    #[tokio::test]
    async fn a_keep_alive_connection_left_idle_is_closed_after_the_header_timeout() {
        let addr = spawn(8).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let started = Instant::now();
        let seen = read_to_close(&mut stream).await;
        assert!(seen.starts_with(b"HTTP/1.1 200"), "{seen:?}");
        assert!(seen.ends_with(b"ok"), "{seen:?}");
        let waited = started.elapsed();
        assert!(waited >= TIMEOUT - Duration::from_millis(50), "{waited:?}");
        assert!(waited < TIMEOUT * 4, "{waited:?}");
    }

    #[tokio::test]
    async fn an_http2_connection_that_answers_pings_but_opens_no_stream_is_closed() {
        let addr = spawn(8).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        // h2's client answers the server's pings by itself.
        let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
        let connection = tokio::spawn(connection);
        // One request, to show the connection works; then nothing.
        let request = axum::http::Request::get(format!("http://{addr}/"))
            .body(())
            .unwrap();
        let (response, _) = client.send_request(request, true).unwrap();
        assert_eq!(response.await.unwrap().status(), 200);
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), connection)
            .await
            .expect("the server closes the idle connection")
            .unwrap()
            .unwrap();
        assert!(started.elapsed() < TIMEOUT * 4, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_a_response_loses_its_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // 256 MB in 1 MB chunks: far more than the socket buffers hold.
        let chunks = || {
            futures::stream::iter(
                (0..256).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 1 << 20]))),
            )
        };
        let router = Router::new().route("/", get(|| async { "ok" })).route(
            "/big",
            get(move || async move { axum::body::Body::from_stream(chunks()) }),
        );
        let limits = ConnectionLimits {
            header_timeout: TIMEOUT,
            max_connections: 1,
            max_per_addr: 8,
            trusted_proxies: Default::default(),
        };
        tokio::spawn(serve(listener, router, limits, std::future::pending()));
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled
            .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The only slot is the stalled reader's until it is judged stalled and dropped.
        let started = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(10), get_root(addr))
            .await
            .expect("served once the stalled connection is dropped");
        assert!(answer.ends_with(b"ok"));
        let waited = started.elapsed();
        assert!(waited >= TIMEOUT * activity::STALL_FACTOR / 2, "{waited:?}");
        drop(stalled);
    }

    #[tokio::test]
    async fn a_request_slower_than_the_idle_timeout_is_not_cut() {
        let router = Router::new().route(
            "/",
            get(|| async {
                tokio::time::sleep(TIMEOUT * 3).await;
                "slow"
            }),
        );
        let addr = serving(router, 8, 8).await;
        let answer = get_root(addr).await;
        assert!(answer.ends_with(b"slow"), "{answer:?}");
    }

    #[tokio::test]
    async fn a_response_waiting_on_the_server_between_its_parts_is_not_cut() {
        // A page rendered as it goes: its head at once, the rest after a slow look-up (longer
        // than a stalled reader is given). The reader reads all along: nothing is stalled.
        let router = Router::new().route(
            "/",
            get(|| async {
                let parts = futures::StreamExt::chain(
                    futures::stream::iter([Ok::<_, std::io::Error>("head;")]),
                    futures::stream::once(async {
                        tokio::time::sleep(TIMEOUT * activity::STALL_FACTOR * 2).await;
                        Ok("rest")
                    }),
                );
                axum::body::Body::from_stream(parts)
            }),
        );
        let addr = serving(router, 8, 8).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut seen))
            .await
            .expect("the server closes the connection")
            .unwrap();
        let seen = String::from_utf8_lossy(&seen);
        assert!(
            seen.contains("head;") && seen.contains("rest\r\n0\r\n\r\n"),
            "{seen}"
        );
    }

    /// A server that takes 3 connections per address (none of them from `trusted` proxies),
    /// with 3 connections from this host open and idle; its address and those connections.
    async fn three_held(trusted: &[&str]) -> (SocketAddr, Vec<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", get(|| async { "ok" }));
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(30),
            max_connections: 100,
            max_per_addr: 3,
            trusted_proxies: crate::forwarded::TrustedProxies::new(
                trusted
                    .iter()
                    .map(|net| crate::forwarded::parse_net(net).unwrap())
                    .collect(),
            ),
        };
        tokio::spawn(serve(listener, router, limits, std::future::pending()));
        let held: Vec<TcpStream> =
            futures::future::join_all((0..3).map(|_| TcpStream::connect(addr)))
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        (addr, held)
    }

    #[tokio::test]
    async fn one_address_cannot_take_every_connection() {
        let (addr, _held) = three_held(&[]).await;
        // A fourth from the same address is closed at once.
        let mut fourth = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        assert!(read_to_close(&mut fourth).await.is_empty());
        assert!(started.elapsed() < Duration::from_secs(1));
        // Another address (127.0.0.2 is loopback too) is served.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut other = socket.connect(addr).await.unwrap();
        other
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        assert!(read_to_close(&mut other).await.starts_with(b"HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn a_trusted_proxy_is_not_capped_like_one_client() {
        let (addr, _held) = three_held(&["127.0.0.1"]).await;
        // A fourth from the proxy is served: every client behind it comes through its address.
        assert!(get_root(addr).await.starts_with(b"HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn a_newcomer_takes_the_slot_of_the_longest_silent_connection() {
        let addr = spawn(2).await;
        let mut oldest = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut younger = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Both slots are held by silent clients: the third is served at once all the same.
        let started = Instant::now();
        let answer = get_root(addr).await;
        assert!(answer.ends_with(b"ok"), "{answer:?}");
        assert!(started.elapsed() < TIMEOUT / 2, "{:?}", started.elapsed());
        // The oldest gave way; the younger keeps its slot until its own timeout.
        let started = Instant::now();
        assert!(read_to_close(&mut oldest).await.is_empty());
        assert!(started.elapsed() < TIMEOUT / 2, "{:?}", started.elapsed());
        let mut byte = [0_u8; 1];
        let still_open =
            tokio::time::timeout(Duration::from_millis(50), younger.read(&mut byte)).await;
        assert!(still_open.is_err(), "{still_open:?}");
    }

    #[tokio::test]
    async fn half_sent_requests_and_http2_prefaces_give_way_at_once_too() {
        for start in [&b"G"[..], H2_PREFACE] {
            let addr = spawn(1).await;
            let mut holder = TcpStream::connect(addr).await.unwrap();
            holder.write_all(start).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            let started = Instant::now();
            assert!(get_root(addr).await.ends_with(b"ok"));
            assert!(started.elapsed() < TIMEOUT / 2, "{:?}", started.elapsed());
            let mut seen = Vec::new();
            tokio::time::timeout(TIMEOUT / 2, holder.read_to_end(&mut seen))
                .await
                .expect("dropped, not left to its timeout")
                .ok();
        }
    }

    #[tokio::test]
    async fn a_keep_alive_connection_between_requests_gives_way_too() {
        let addr = spawn(1).await;
        let mut kept = TcpStream::connect(addr).await.unwrap();
        kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0_u8; 256];
        let n = kept.read(&mut answer).await.unwrap();
        assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
        let started = Instant::now();
        assert!(get_root(addr).await.ends_with(b"ok"));
        assert!(started.elapsed() < TIMEOUT / 2, "{:?}", started.elapsed());
        assert!(read_to_close(&mut kept).await.is_empty());
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_wait_while_every_slot_is_at_work() {
        let router = Router::new().route("/", get(|| async { "ok" })).route(
            "/slow",
            get(|| async {
                tokio::time::sleep(TIMEOUT * 2).await;
                "slow"
            }),
        );
        let addr = serving(router, 2, 8).await;
        let mut working = Vec::new();
        for _ in 0..2 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            working.push(stream);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Nothing is idle: the third waits until a slow request ends, and neither is cut.
        let started = Instant::now();
        let answer = get_root(addr).await;
        assert!(answer.ends_with(b"ok"), "{answer:?}");
        let waited = started.elapsed();
        assert!(
            waited >= TIMEOUT * 2 - Duration::from_millis(150),
            "{waited:?}"
        );
        for mut stream in working {
            assert!(read_to_close(&mut stream).await.ends_with(b"slow"));
        }
        // And with a free slot there is no wait.
        let started = Instant::now();
        assert!(get_root(addr).await.starts_with(b"HTTP/1.1 200"));
        assert!(started.elapsed() < TIMEOUT, "{:?}", started.elapsed());
    }
}
