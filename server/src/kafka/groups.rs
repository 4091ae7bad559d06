//! A person's position in a topic, kept by Kafka as the committed offsets of their consumer
//! group (`streamhub-<user>`, the group the CLI's direct reads use): read for lag and for
//! `{"position": "stored"}` starts, written when the viewer saves its position. Blocking (run
//! these on the blocking pool): librdkafka's offset calls wait for the broker.

use super::{client_config, KafkaArgs, KafkaError};
use rdkafka::{
    consumer::{BaseConsumer, CommitMode, Consumer},
    types::RDKafkaErrorCode,
    Offset, TopicPartitionList,
};
use std::collections::BTreeMap;

/// The consumer group that holds `user`'s positions.
pub fn group_of(user: &str) -> String {
    format!("streamhub-{user}")
}

fn group_client(kafka: &KafkaArgs, group: &str) -> Result<BaseConsumer, KafkaError> {
    client_config(kafka)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| KafkaError::Config(e.to_string()))
}

fn unavailable(e: rdkafka::error::KafkaError) -> KafkaError {
    KafkaError::Unavailable(e.to_string())
}

/// Per topic and partition, the offset `group` will read next (`None`: nothing committed).
pub fn committed(
    kafka: &KafkaArgs,
    group: &str,
    topics: &[(String, i32)],
) -> Result<BTreeMap<(String, i32), Option<i64>>, KafkaError> {
    let consumer = group_client(kafka, group)?;
    let mut asked = TopicPartitionList::new();
    for (topic, partitions) in topics {
        for partition in 0..*partitions {
            asked.add_partition(topic, partition);
        }
    }
    let found = consumer
        .committed_offsets(asked, kafka.timeout())
        .map_err(unavailable)?;
    Ok(found
        .elements()
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(o) if o >= 0 => Some(o),
                _ => None,
            };
            ((e.topic().to_owned(), e.partition()), offset)
        })
        .collect())
}

/// Makes `positions` (per topic, partition → the next offset to read) `group`'s position, in
/// one commit. Refused ([`KafkaError::GroupActive`]) while the group has active members (a CLI
/// reading as that user).
pub fn commit(
    kafka: &KafkaArgs,
    group: &str,
    positions: &[(String, BTreeMap<i32, i64>)],
) -> Result<(), KafkaError> {
    let consumer = group_client(kafka, group)?;
    let mut list = TopicPartitionList::new();
    for (topic, offsets) in positions {
        for (partition, offset) in offsets {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|e| KafkaError::Refused(e.to_string()))?;
        }
    }
    consumer
        .commit(&list, CommitMode::Sync)
        .map_err(commit_refusal)
}

/// What a refused commit means for the caller: the broker away, the group busy with members of
/// its own, or a plain refusal.
fn commit_refusal(e: rdkafka::error::KafkaError) -> KafkaError {
    match e.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::CoordinatorNotAvailable,
        ) => unavailable(e),
        // What a broker answers a commit from outside a group that has members.
        Some(
            RDKafkaErrorCode::UnknownMemberId
            | RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::RebalanceInProgress,
        ) => KafkaError::GroupActive(e.to_string()),
        _ => KafkaError::Refused(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::KafkaError as Rd;

    /// Apache Kafka refuses a commit from outside a group that has members with one of these
    /// (tansu accepts it, so the integration tests cannot show it).
    #[test]
    fn a_busy_group_is_told_from_an_absent_broker_and_a_refusal() {
        for code in [
            RDKafkaErrorCode::UnknownMemberId,
            RDKafkaErrorCode::IllegalGeneration,
            RDKafkaErrorCode::RebalanceInProgress,
        ] {
            let refusal = commit_refusal(Rd::ConsumerCommit(code));
            assert!(matches!(refusal, KafkaError::GroupActive(_)), "{code:?}");
        }
        let away = commit_refusal(Rd::ConsumerCommit(RDKafkaErrorCode::AllBrokersDown));
        assert!(matches!(away, KafkaError::Unavailable(_)));
        let other = commit_refusal(Rd::ConsumerCommit(
            RDKafkaErrorCode::TopicAuthorizationFailed,
        ));
        assert!(matches!(other, KafkaError::Refused(_)));
    }
}
