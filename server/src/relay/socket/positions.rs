//! A user's stored position in their topics (their consumer group's committed offsets): saving
//! where this socket's streams stand (`save_position`), and reading it for a stream that starts
//! `from: stored`. Talks to the broker on the blocking pool; starts no stream.

use super::{Connection, Refusal};
use crate::{kafka::groups, relay::blocking::blocking};
use app::stream::{PartitionOffsets, ServerFrame};
use std::collections::BTreeMap;

impl Connection {
    /// `save_position`: stores where each of this socket's streams stands as its user's
    /// position: `position_saved` per topic, or why not.
    pub(super) async fn save_positions(&mut self) {
        let Some(user) = self.user_id.clone() else {
            return self.refuse(Refusal::NoUser("save your position")).await;
        };
        let positions: Vec<(String, BTreeMap<i32, i64>)> = self
            .positions
            .iter()
            .map(|(topic, p)| {
                (
                    topic.clone(),
                    p.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                )
            })
            .collect();
        if positions.is_empty() {
            return self.refuse(Refusal::NothingStreamed).await;
        }
        // Only the user's own topics: an admin's socket may stream others, which are not part
        // of the user's position.
        let (mine, others): (Vec<_>, Vec<_>) = match self.store.subscriptions(Some(&user)).await {
            Ok(subscriptions) => positions
                .into_iter()
                .partition(|(topic, _)| subscriptions.iter().any(|s| s.topic_name == *topic)),
            Err(e) => return self.refuse(e.into()).await,
        };
        for (topic, _) in others {
            let refusal = Refusal::PositionNotTheirs {
                user: user.clone(),
                topic,
            };
            self.refuse(refusal).await;
        }
        if mine.is_empty() {
            return;
        }
        let (kafka, group) = (self.relay.kafka().clone(), groups::group_of(&user));
        let topics: Vec<String> = mine.iter().map(|(topic, _)| topic.clone()).collect();
        match blocking(move || groups::commit(&kafka, &group, &mine)).await {
            Ok(()) => {
                for topic in topics {
                    self.send(&ServerFrame::PositionSaved { topic }).await;
                }
            }
            Err(why) => {
                let refusal = Refusal::PositionNotSaved {
                    topics: topics.join(", "),
                    why,
                };
                self.refuse(refusal).await;
            }
        }
    }

    /// Where the socket's user stands in `topic`: their consumer group's committed offsets (the
    /// partitions without one are left out, and start at latest).
    pub(super) async fn stored_position(
        &self,
        topic: &str,
        partitions: i32,
    ) -> Result<PartitionOffsets, Refusal> {
        let Some(user) = self.user_id.clone() else {
            return Err(Refusal::NoUser("start from your stored position"));
        };
        let (kafka, topics) = (
            self.relay.kafka().clone(),
            vec![(topic.to_owned(), partitions)],
        );
        let committed =
            blocking(move || groups::committed(&kafka, &groups::group_of(&user), &topics))
                .await
                .map_err(Refusal::BrokerUnavailable)?;
        Ok(committed
            .into_iter()
            .filter_map(|((_, partition), offset)| offset.map(|o| (partition, o)))
            .collect())
    }
}
