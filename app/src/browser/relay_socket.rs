//! The browser's WebSocket to the relay (`/api/stream`), as the live viewer and the search page
//! both use it: opened as a user, frames sent as [`ClientFrame`]s, what happens handed to one
//! handler as a [`SocketEvent`], and closed (its handlers detached first) when dropped.
//!
//! It owns the socket and its JavaScript handlers, nothing else: what a frame means, when to
//! reconnect and what to send are the pages' (`pages::stream::connection`, `pages::search::run`).

use crate::stream::ClientFrame;
use std::{cell::RefCell, rc::Rc};
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

/// What a socket tells its owner.
#[derive(Debug)]
pub enum SocketEvent {
    /// The socket is open: frames can be sent.
    Opened,
    /// A text frame from the relay, unread.
    Text(String),
    /// The socket closed (or never opened), with the close code.
    Closed(u16),
}

/// Sends on a socket; its handler gets one too, so that it can answer or close from inside.
#[derive(Clone)]
pub struct RelaySender(WebSocket);

impl RelaySender {
    /// Whether the socket is open (frames sent now go out).
    pub fn is_open(&self) -> bool {
        self.0.ready_state() == WebSocket::OPEN
    }

    /// Sends `frame`; `false` when the socket is not open (yet, or any more).
    pub fn send(&self, frame: &ClientFrame) -> bool {
        let Ok(text) = serde_json::to_string(frame) else {
            return false;
        };
        self.is_open() && self.0.send_with_str(&text).is_ok()
    }

    /// Closes the socket; the handler still hears [`SocketEvent::Closed`].
    pub fn close(&self) {
        let _ = self.0.close();
    }
}

type Handler = Closure<dyn FnMut(Event)>;

/// An open (or opening) socket to the relay. Dropping it detaches its handler and closes it:
/// the relay then ends whatever the socket was streaming or searching.
pub struct RelaySocket {
    sender: RelaySender,
    _handlers: [Handler; 3],
}

impl RelaySocket {
    /// Opens a socket to this page's relay as `user_id` (`?follow=false`: the socket streams what
    /// it subscribes to, nothing else); `on_event` hears what happens to it. `None` when the
    /// browser refuses to open one.
    pub fn open(
        user_id: &str,
        on_event: impl FnMut(&RelaySender, SocketEvent) + 'static,
    ) -> Option<Self> {
        let location = web_sys::window()?.location();
        let scheme = match location.protocol().ok()?.as_str() {
            "https:" => "wss",
            _ => "ws",
        };
        let user_id = String::from(js_sys::encode_uri_component(user_id));
        let url = format!(
            "{scheme}://{}/api/stream?follow=false&user_id={user_id}",
            location.host().ok()?
        );
        let sender = RelaySender(WebSocket::new(&url).ok()?);
        // One handler for the three events; JavaScript calls them one at a time.
        let on_event = Rc::new(RefCell::new(on_event));
        let handler = |read: fn(Event) -> Option<SocketEvent>| {
            let (sender, on_event) = (sender.clone(), Rc::clone(&on_event));
            Closure::<dyn FnMut(Event)>::new(move |event| {
                if let Some(event) = read(event) {
                    (on_event.borrow_mut())(&sender, event);
                }
            })
        };
        let on_open = handler(|_| Some(SocketEvent::Opened));
        let on_message = handler(|event| {
            let text = event.dyn_ref::<MessageEvent>()?.data().as_string()?;
            Some(SocketEvent::Text(text))
        });
        let on_close = handler(|event| {
            let code = event.dyn_ref::<CloseEvent>().map_or(0, CloseEvent::code);
            Some(SocketEvent::Closed(code))
        });
        let ws = &sender.0;
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Some(Self {
            sender,
            _handlers: [on_open, on_message, on_close],
        })
    }

    /// Whether the socket is open.
    pub fn is_open(&self) -> bool {
        self.sender.is_open()
    }

    /// Sends `frame`; `false` when the socket is not open.
    pub fn send(&self, frame: &ClientFrame) -> bool {
        self.sender.send(frame)
    }
}

impl Drop for RelaySocket {
    fn drop(&mut self) {
        let ws = &self.sender.0;
        ws.set_onopen(None);
        ws.set_onmessage(None);
        ws.set_onclose(None);
        let _ = ws.close();
    }
}
