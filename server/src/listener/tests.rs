//! The listener's bounds, each against a real server on loopback.

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
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
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
    let held: Vec<TcpStream> = futures::future::join_all((0..3).map(|_| TcpStream::connect(addr)))
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
    let still_open = tokio::time::timeout(Duration::from_millis(50), younger.read(&mut byte)).await;
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
