//! `streamhub-consumer search`: a search of a topic's history, run by the server (the relay),
//! its matches printed like consumed records and its progress on stderr. Ctrl-C cancels it on
//! the server before the command exits.

use super::{
    config::{ConsumerCli, SearchArgs},
    output::Printer,
    ConsumerError,
};
use crate::relay::client::{connect, RelaySocket};
use app::stream::{ClientFrame, SearchRequest, ServerFrame};
use futures::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// How often progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How long a cancelled search may take to say it ended.
const CANCEL_WAIT: Duration = Duration::from_secs(2);

/// Runs the search and prints its matches; the summary goes to stderr.
pub async fn run(cli: &ConsumerCli, args: &SearchArgs) -> Result<(), ConsumerError> {
    let base = cli
        .api
        .api_url
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    let url = match &cli.user {
        Some(user) => format!(
            "{}/api/stream?follow=false&user_id={}",
            base.trim_end_matches('/'),
            app::api::encode(user)
        ),
        None => format!("{}/api/stream", base.trim_end_matches('/')),
    };
    let unreachable = |e: tokio_tungstenite::tungstenite::Error| ConsumerError::Unreachable {
        url: url.clone(),
        message: e.to_string(),
    };
    let request =
        crate::relay::client::request(&url, super::bearer(cli).as_deref()).map_err(unreachable)?;
    let (mut socket, _) = connect(request).await.map_err(unreachable)?;
    let id = "cli".to_owned();
    let request = ClientFrame::Search(SearchRequest {
        id: id.clone(),
        topic: args.topic.clone(),
        filter: args.filter.clone(),
        partition: args.partition,
        from_offset: args.from_offset,
        to_offset: args.to_offset,
        since: args.since,
        until: args.until,
        max_matches: Some(args.max),
    });
    send(&mut socket, &request).await?;
    let mut printer = Printer::new(args.format, false);
    let mut printed_at = Instant::now();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut cancelled_at = None::<Instant>;
    loop {
        let frame = tokio::select! {
            frame = next_frame(&mut socket) => frame?,
            _ = &mut interrupted, if cancelled_at.is_none() => {
                send(&mut socket, &ClientFrame::CancelSearch { id: id.clone() }).await?;
                cancelled_at = Some(Instant::now());
                continue;
            }
            _ = tokio::time::sleep(CANCEL_WAIT), if cancelled_at.is_some() => break,
        };
        match frame {
            ServerFrame::SearchResults { records, .. } => {
                for record in &records {
                    printer.print(record)?;
                }
            }
            ServerFrame::SearchProgress {
                scanned,
                total,
                matches,
                rate,
                ..
            } if printed_at.elapsed() >= PROGRESS_EVERY => {
                printed_at = Instant::now();
                eprintln!("scanned {scanned} of {total}, {matches} match(es), {rate:.0} records/s");
            }
            ServerFrame::SearchDone {
                scanned,
                matches,
                reason,
                message,
                ..
            } => {
                printer.flush()?;
                eprintln!("{matches} match(es) in {scanned} records scanned ({reason})");
                return match (reason.as_str(), message) {
                    ("failed" | "filter_too_costly", Some(message)) => {
                        Err(ConsumerError::Relay(message))
                    }
                    _ => Ok(()),
                };
            }
            ServerFrame::Error { error, message } => {
                return Err(match error.as_str() {
                    "invalid_filter" | "invalid_partition" | "invalid_topic" => {
                        ConsumerError::Usage(message)
                    }
                    "not_subscribed" | "topic_not_active" => ConsumerError::NotStreamable(message),
                    "topic_not_found" => ConsumerError::NoSuchTopic(message),
                    _ => ConsumerError::Relay(message),
                })
            }
            _ => {}
        }
    }
    printer.flush()?;
    eprintln!("cancelled");
    Ok(())
}

async fn send(socket: &mut RelaySocket, frame: &ClientFrame) -> Result<(), ConsumerError> {
    let text = serde_json::to_string(frame).unwrap_or_default();
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|e| ConsumerError::Relay(e.to_string()))
}

/// The next frame from the relay (pings and other non-text messages skipped).
async fn next_frame(socket: &mut RelaySocket) -> Result<ServerFrame, ConsumerError> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text).map_err(|e| ConsumerError::Relay(e.to_string()))
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(ConsumerError::Relay(e.to_string())),
            None => {
                return Err(ConsumerError::Relay(
                    "the relay closed the connection".into(),
                ))
            }
        }
    }
}
