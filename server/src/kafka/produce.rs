//! Sending single records that a person composed (the dashboard's "produce a test record", the
//! CLI's `produce`): one shared producer, each record acknowledged by every in-sync replica
//! before its partition and offset are reported.

use super::{KafkaArgs, KafkaError};
use rdkafka::{
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};
use std::{collections::BTreeMap, time::Duration};

/// A producer for records composed by hand. Cheap to clone; connects on first use.
#[derive(Clone)]
pub struct RecordSender {
    producer: FutureProducer,
    timeout: Duration,
}

/// One record to send.
#[derive(Debug)]
pub struct OutgoingRecord<'a> {
    pub topic: &'a str,
    pub key: Option<&'a str>,
    pub headers: &'a BTreeMap<String, String>,
    pub payload: &'a [u8],
}

impl RecordSender {
    /// Builds the producer (it connects lazily, so this succeeds while the cluster is down).
    pub fn new(args: &KafkaArgs) -> Result<Self, KafkaError> {
        let mut config = super::client_config(args);
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "0")
            .set("message.timeout.ms", args.timeout().as_millis().to_string());
        super::apply_user_options(&mut config, args);
        let producer = config
            .create()
            .map_err(|e| KafkaError::Config(e.to_string()))?;
        Ok(Self {
            producer,
            timeout: args.timeout(),
        })
    }

    /// Sends `record` and waits for its acknowledgement: the partition and offset it got.
    pub async fn send(&self, record: OutgoingRecord<'_>) -> Result<(i32, i64), KafkaError> {
        let headers = record
            .headers
            .iter()
            .fold(OwnedHeaders::new(), |headers, (name, value)| {
                headers.insert(Header {
                    key: name,
                    value: Some(value.as_str()),
                })
            });
        let mut outgoing = FutureRecord::to(record.topic)
            .payload(record.payload)
            .headers(headers);
        if let Some(key) = record.key {
            outgoing = outgoing.key(key);
        }
        let delivered =
            self.producer
                .send(outgoing, self.timeout)
                .await
                .map_err(|(e, _)| match e.rdkafka_error_code() {
                    Some(
                        rdkafka::types::RDKafkaErrorCode::MessageTimedOut
                        | rdkafka::types::RDKafkaErrorCode::BrokerTransportFailure
                        | rdkafka::types::RDKafkaErrorCode::AllBrokersDown,
                    ) => KafkaError::Unavailable(e.to_string()),
                    _ => KafkaError::Refused(e.to_string()),
                })?;
        Ok((delivered.partition, delivered.offset))
    }
}
