//! Topic administration and cluster metadata: creating a topic with its partitions and
//! replication factor (adopting one that already exists with that shape), waiting until it shows
//! in metadata, and listing what the cluster has.
//!
//! librdkafka's metadata calls block, so they run on tokio's blocking pool.

use super::KafkaArgs;
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    error::{KafkaError as RdKafkaError, RDKafkaErrorCode},
};
use std::{collections::HashMap, sync::Arc, time::Duration};

/// Why a Kafka operation did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KafkaError {
    /// The cluster could not be reached or did not answer in time; retrying later may work.
    #[error("the Kafka cluster is unavailable: {0}")]
    Unavailable(String),
    /// The cluster answered and refused.
    #[error("the Kafka cluster refused: {0}")]
    Refused(String),
    /// The topic exists in Kafka with another partition count than StreamHub recorded.
    #[error("topic {topic} already exists in Kafka with {actual} partitions, not {expected}")]
    ShapeMismatch {
        topic: String,
        expected: i32,
        actual: i32,
    },
    /// A consumer group's offsets were not changed because the group has active members (a
    /// reader of it is connected): only they may move its position while they read.
    #[error("the consumer group has active members: {0}")]
    GroupActive(String),
    /// The client could not be built from the configuration.
    #[error("invalid Kafka client configuration: {0}")]
    Config(String),
}

/// Runs blocking client work (librdkafka's calls wait on the network) on the blocking pool;
/// the pool's own failure (a panic, a cancelled task) is reported as the cluster being
/// unavailable, like any other failure to get an answer.
pub async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| KafkaError::Unavailable(e.to_string()))?
}

/// What [`KafkaAdmin::ensure_topic`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicEnsured {
    /// The topic was created now.
    Created,
    /// It already existed with the right partition count and was adopted.
    Adopted,
}

/// A snapshot of the cluster: its brokers and each topic's partition count.
#[derive(Debug, Clone, Default)]
pub struct ClusterInfo {
    pub brokers: usize,
    pub topics: HashMap<String, i32>,
}

/// An admin client shared by the server's handlers and its health check. Cheap to clone.
#[derive(Clone)]
pub struct KafkaAdmin {
    client: Arc<AdminClient<DefaultClientContext>>,
    timeout: Duration,
    bootstrap_servers: String,
}

impl KafkaAdmin {
    /// Builds the client; it connects lazily, so this succeeds while the cluster is down.
    pub fn new(args: &KafkaArgs) -> Result<Self, KafkaError> {
        let client = super::client_config(args)
            .create()
            .map_err(|e| KafkaError::Config(e.to_string()))?;
        Ok(Self {
            client: Arc::new(client),
            timeout: args.timeout(),
            bootstrap_servers: args.bootstrap_servers.clone(),
        })
    }

    /// The bootstrap servers this client talks to (for health reports and messages).
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// Brokers and topics as the cluster reports them now.
    pub async fn cluster_info(&self) -> Result<ClusterInfo, KafkaError> {
        let client = self.client.clone();
        let timeout = self.timeout;
        off_runtime(move || {
            let metadata = client
                .inner()
                .fetch_metadata(None, timeout)
                .map_err(classify)?;
            Ok(ClusterInfo {
                brokers: metadata.brokers().len(),
                topics: metadata
                    .topics()
                    .iter()
                    .filter(|t| t.error().is_none())
                    .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
                    .collect(),
            })
        })
        .await
    }

    /// The partition count of `topic`, or `None` when the cluster does not have it.
    pub async fn topic_partitions(&self, topic: &str) -> Result<Option<i32>, KafkaError> {
        let (client, timeout, topic) = (self.client.clone(), self.timeout, topic.to_owned());
        off_runtime(move || partition_count(&client, &topic, timeout)).await
    }

    /// How many records `topic` has ever taken: the sum of its partitions' high watermarks
    /// (what the overview's rates are computed from).
    pub async fn message_count(&self, topic: &str) -> Result<i64, KafkaError> {
        let (client, timeout, topic) = (self.client.clone(), self.timeout, topic.to_owned());
        off_runtime(move || {
            let partitions = partition_count(&client, &topic, timeout)?.unwrap_or(0);
            (0..partitions).try_fold(0_i64, |sum, p| {
                let (_, high) = client
                    .inner()
                    .fetch_watermarks(&topic, p, timeout)
                    .map_err(classify)?;
                Ok(sum + high.max(0))
            })
        })
        .await
    }

    /// [`Self::ensure_topic`] with a topic row's own name, partitions and replication factor.
    pub async fn ensure(&self, topic: &app::wire::Topic) -> Result<TopicEnsured, KafkaError> {
        self.ensure_topic(
            &topic.topic_name,
            topic.partitions,
            topic.replication_factor,
        )
        .await
    }

    /// Makes sure `topic` exists with `partitions` partitions: creates it, or adopts an existing
    /// one of the same shape, then waits until metadata shows it (so that producers and
    /// consumers started right after see it too).
    #[tracing::instrument(skip(self), fields(bootstrap = %self.bootstrap_servers))]
    pub async fn ensure_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i32,
    ) -> Result<TopicEnsured, KafkaError> {
        let new_topic = NewTopic::new(
            topic,
            partitions,
            TopicReplication::Fixed(replication_factor),
        );
        let options = AdminOptions::new()
            .operation_timeout(Some(self.timeout))
            .request_timeout(Some(self.timeout));
        let results = self
            .client
            .create_topics([&new_topic], &options)
            .await
            .map_err(classify)?;
        let outcome = match results.into_iter().next() {
            Some(Ok(_)) => TopicEnsured::Created,
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => TopicEnsured::Adopted,
            Some(Err((_, code))) => return Err(classify_code(code)),
            None => return Err(KafkaError::Refused("no result for the topic".into())),
        };
        self.wait_visible(topic, partitions).await?;
        tracing::info!(
            topic,
            partitions,
            replication_factor,
            ?outcome,
            "kafka topic ready"
        );
        Ok(outcome)
    }

    /// Polls metadata until `topic` shows with `partitions` partitions (or refuses a mismatch).
    async fn wait_visible(&self, topic: &str, partitions: i32) -> Result<(), KafkaError> {
        let deadline = tokio::time::Instant::now() + self.timeout * 2;
        loop {
            match self.topic_partitions(topic).await? {
                Some(actual) if actual == partitions => return Ok(()),
                Some(actual) if actual != 0 => {
                    return Err(KafkaError::ShapeMismatch {
                        topic: topic.to_owned(),
                        expected: partitions,
                        actual,
                    })
                }
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(KafkaError::Unavailable(format!(
                        "topic {topic} did not appear in metadata in time"
                    )))
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// `topic`'s partition count from a metadata request (blocking), `None` when it has none.
fn partition_count(
    client: &AdminClient<DefaultClientContext>,
    topic: &str,
    timeout: Duration,
) -> Result<Option<i32>, KafkaError> {
    let metadata = client
        .inner()
        .fetch_metadata(Some(topic), timeout)
        .map_err(classify)?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len() as i32))
}

/// Sorts librdkafka's errors into "try again later" and "the cluster said no".
fn classify(error: RdKafkaError) -> KafkaError {
    match error.rdkafka_error_code() {
        Some(code) => classify_code(code),
        None => KafkaError::Unavailable(error.to_string()),
    }
}

fn classify_code(code: RDKafkaErrorCode) -> KafkaError {
    use RDKafkaErrorCode as C;
    match code {
        C::OperationTimedOut
        | C::RequestTimedOut
        | C::BrokerTransportFailure
        | C::AllBrokersDown
        | C::BrokerNotAvailable
        | C::NetworkException
        | C::LeaderNotAvailable
        | C::NotController
        | C::CoordinatorNotAvailable
        | C::Resolve => KafkaError::Unavailable(code.to_string()),
        other => KafkaError::Refused(other.to_string()),
    }
}
