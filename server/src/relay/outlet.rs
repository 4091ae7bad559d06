//! A socket's sending half, shared by the connection (control frames, pings) and each of its
//! streams. Whoever has a frame writes it, one at a time: a live record costs the server one
//! task wake-up (the stream's) and one write, with no hand-over to a writer task in between.
//! A stream whose client reads slowly waits here for its turn, so it stops taking records from
//! the feed, and its broadcast receiver lags; a client that has stopped reading is dropped
//! after [`WRITE_LIMIT`].

use super::Relay;
use app::stream::ServerFrame;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{stream::SplitSink, SinkExt};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::sync::{Mutex, Notify};

/// A frame the client has not taken in this long (it stopped reading; its TCP window stays
/// shut) ends the socket: lagging covers a slow reader, this one that has stopped.
const WRITE_LIMIT: Duration = Duration::from_secs(30);
/// How long a closing handshake may take before the socket is just dropped.
const CLOSE_LIMIT: Duration = Duration::from_secs(1);

/// Cheap to clone: every clone writes to the same socket.
#[derive(Clone)]
pub struct Outlet {
    sink: Arc<Mutex<SplitSink<WebSocket, Message>>>,
    /// Set once a write failed or timed out: nothing more is written, the connection ends.
    broken: Arc<AtomicBool>,
    /// Wakes the connection when the socket breaks, so it ends at once.
    on_break: Arc<Notify>,
    relay: Relay,
}

impl Outlet {
    pub fn new(sink: SplitSink<WebSocket, Message>, relay: Relay) -> Self {
        Self {
            sink: Arc::new(Mutex::new(sink)),
            broken: Arc::new(AtomicBool::new(false)),
            on_break: Arc::new(Notify::new()),
            relay,
        }
    }

    /// Writes `message` when it is this caller's turn; `false` when the socket is gone.
    pub async fn send(&self, message: Message) -> bool {
        if self.is_broken() {
            return false;
        }
        let mut sink = self.sink.lock().await;
        if self.is_broken() {
            return false;
        }
        match tokio::time::timeout(WRITE_LIMIT, sink.send(message)).await {
            Ok(Ok(())) => {
                let stats = self.relay.stats();
                stats.frames_sent.fetch_add(1, Ordering::Relaxed);
                true
            }
            Ok(Err(_)) => self.break_off(),
            Err(_) => {
                tracing::info!("relay socket stopped reading; closing it");
                self.break_off()
            }
        }
    }

    /// Serialises and writes a control frame.
    pub async fn send_frame(&self, frame: &ServerFrame) -> bool {
        match serde_json::to_string(frame) {
            Ok(text) => self.send(Message::Text(text.into())).await,
            Err(_) => false,
        }
    }

    /// Ends the socket with a close frame (`code`, `reason`), waiting at most [`CLOSE_LIMIT`]
    /// for a stream's write in progress and for the close itself.
    pub async fn close(&self, code: u16, reason: &'static str) {
        let close = async {
            let mut sink = self.sink.lock().await;
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
        };
        let _ = tokio::time::timeout(CLOSE_LIMIT, close).await;
        self.break_off();
    }

    /// Whether a write has failed (the connection should end).
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Resolves once a write has failed (for the one task that owns the connection).
    pub async fn broken(&self) {
        while !self.is_broken() {
            self.on_break.notified().await;
        }
    }

    fn break_off(&self) -> bool {
        self.broken.store(true, Ordering::Release);
        // A stored permit: the connection wakes even if it was not waiting yet.
        self.on_break.notify_one();
        false
    }
}
