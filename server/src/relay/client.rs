//! The client side of the relay's sockets, for StreamHub's own clients (the CLI's
//! `--via-relay` reader, the benchmarks, the soak).
//!
//! tungstenite zero-fills its whole read buffer before every read, including the reads that
//! find nothing and would block. With its 128 KB default that memset was 43 % of a benchmark
//! client's CPU at 100 small frames a second per socket (see BENCHMARKS.md, relay). A 16 KB
//! buffer holds many live frames per read; a larger frame (a replay batch) still arrives whole,
//! because the buffer grows to the frame's length.

use tokio::net::TcpStream;
use tokio_tungstenite::{
    tungstenite::{
        self, client::IntoClientRequest, handshake::client::Response, protocol::WebSocketConfig,
    },
    MaybeTlsStream, WebSocketStream,
};

/// Bytes read from the socket at most per read.
const READ_BUFFER: usize = 16 * 1024;

/// A socket to the relay.
pub type RelaySocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a socket to the relay (a `ws://…/api/stream` URL or a prepared request).
pub async fn connect(
    request: impl IntoClientRequest + Unpin,
) -> Result<(RelaySocket, Response), tungstenite::Error> {
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    tokio_tungstenite::connect_async_with_config(request, Some(config), false).await
}

/// A request for a socket at `url`, proving itself with `bearer` when given (the admin token or,
/// in `oidc` mode, a personal access token).
pub fn request(
    url: &str,
    bearer: Option<&str>,
) -> Result<tungstenite::handshake::client::Request, tungstenite::Error> {
    let mut request = url.into_client_request()?;
    if let Some(token) = bearer {
        let value = format!("Bearer {token}").parse().map_err(|_| {
            tungstenite::Error::Url(tungstenite::error::UrlError::UnsupportedUrlScheme)
        })?;
        request
            .headers_mut()
            .insert(tungstenite::http::header::AUTHORIZATION, value);
    }
    Ok(request)
}
