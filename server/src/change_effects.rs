//! What this instance does about each metadata change of the deployment, whichever instance
//! made it (the store's change log, [`crate::store::Store::changes`]): a subscription added or
//! removed starts or stops the streams of that user's sockets held here; a deactivated topic's
//! feed ends; a signed-out session or revoked token ends the sockets it opened and, for a
//! session, is refused here from now on.
//!
//! The instance that made a change hears it too, before its request is answered; where that
//! request must act at once (a sign-out refuses the cookie on the next request, a deactivation
//! ends the feed before it answers) it also acts itself. Both are harmless twice.

use crate::{
    relay::{revoked_token_key, Relay},
    sessions::Sessions,
    store::{Change, Store, TopicEvent},
};
use std::{collections::HashSet, sync::Arc};
use tokio::sync::broadcast::error::RecvError;

/// Acts on every change from now on, for as long as the runtime runs.
pub fn spawn(store: &Store, relay: Relay, sessions: Arc<Sessions>) {
    let mut changes = store.changes();
    let store = store.clone();
    tokio::spawn(async move {
        loop {
            match changes.recv().await {
                Ok(change) => apply(&change, &relay, &sessions).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "fell behind the change log's announcements");
                    catch_up_on_sign_ins(&store, &relay, &sessions).await;
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

/// After missed announcements: sign-outs and token revocations are read back from where they are
/// kept; cookies of the signed-out stop verifying, and every socket checks its own sign-in
/// against them all (sockets re-read their subscriptions when they lag themselves).
async fn catch_up_on_sign_ins(store: &Store, relay: &Relay, sessions: &Sessions) {
    let now = crate::sessions::unix_now();
    let signed_out = match store.revoked_sessions(now).await {
        Ok(revoked) => revoked,
        Err(e) => {
            tracing::warn!(error = %e, "could not re-read the sign-outs");
            Vec::new()
        }
    };
    let mut ended: HashSet<String> = signed_out.iter().map(|(id, _)| id.clone()).collect();
    sessions.restore(signed_out, now);
    match store.revoked_tokens(now).await {
        Ok(ids) => ended.extend(ids.into_iter().map(revoked_token_key)),
        Err(e) => tracing::warn!(error = %e, "could not re-read the token revocations"),
    }
    relay.sign_ins_revoked(ended);
}

async fn apply(change: &Change, relay: &Relay, sessions: &Sessions) {
    match change {
        Change::Subscription {
            user_id,
            topic,
            added,
        } => relay.subscription_changed(user_id, topic, *added),
        Change::Topic {
            topic,
            event: TopicEvent::Deactivated,
        } => relay.topic_ended(topic).await,
        Change::Topic {
            topic,
            event: TopicEvent::AccessChanged,
        } => relay.access_changed(topic),
        Change::Topic { .. } => {}
        Change::SessionRevoked {
            session_id,
            expires,
        } => {
            sessions.restore(
                [(session_id.clone(), *expires)],
                crate::sessions::unix_now(),
            );
            relay.session_revoked(session_id);
        }
        Change::TokenRevoked { token_id } => relay.session_revoked(&revoked_token_key(*token_id)),
    }
}
