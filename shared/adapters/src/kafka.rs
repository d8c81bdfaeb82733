//! Events to Kafka with rdkafka: plaintext for the local broker, SASL_SSL with IAM (OAUTHBEARER
//! tokens signed by the MSK IAM signer) for Amazon MSK.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use aws_msk_iam_sasl_signer::generate_auth_token_from_credentials_provider;
use aws_types::SdkConfig;
use aws_types::region::Region;
use aws_types::sdk_config::SharedCredentialsProvider;
use orderflow_types::OrderEvent;
use orderflow_types::event::headers;
use rdkafka::ClientConfig;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use tokio::runtime::Handle;
use tracing::{debug, info, instrument};

use orderflow_domain::error::{Dependency, Error, Result};
use orderflow_domain::ports::{DeadLetters, EventPublisher, RawRecord};

use crate::config::{ConfigError, Vars};

const KAFKA: Dependency = Dependency::Kafka;

/// How clients authenticate to the brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KafkaAuth {
    /// No TLS, no authentication: the local broker.
    Plaintext,
    /// TLS with IAM authentication: Amazon MSK (port 9098).
    MskIam { region: String },
}

/// What a function that publishes order events reads from its environment: the brokers, and the
/// topic (`ORDER_EVENTS_TOPIC`, by default `order-events`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerSettings {
    pub kafka: KafkaConfig,
    pub topic: String,
}

impl ProducerSettings {
    /// Reads the settings through `var`; `client_id` names the function to the brokers.
    pub fn from_vars(
        client_id: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<Self, ConfigError> {
        let vars = Vars(&var);
        Ok(Self {
            kafka: KafkaConfig::from_vars(client_id, &var)?,
            topic: vars.or("ORDER_EVENTS_TOPIC", "order-events"),
        })
    }

    /// The function's producer, connected once per cold start. `aws` holds the credentials the
    /// MSK IAM signer uses; with plaintext brokers they go unused.
    pub fn connect(&self, aws: &SdkConfig) -> Result<KafkaPublisher> {
        KafkaPublisher::connect(&self.kafka, aws.credentials_provider(), self.topic.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`
    pub bootstrap_servers: String,
    pub auth: KafkaAuth,
    pub client_id: String,
    /// How long a publish may take, retries included, before it fails. Well under API Gateway's
    /// 29 s, so that a slow broker is an error response rather than a gateway timeout.
    pub delivery_timeout: Duration,
}

impl KafkaConfig {
    pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

    /// Reads `KAFKA_BOOTSTRAP_SERVERS` (required), `KAFKA_AUTH` (`plaintext`, the default, or
    /// `msk-iam`, which needs `AWS_REGION`) through `var`, so that a function's config module stays
    /// the one place that touches its environment. Errors name the variable.
    pub fn from_vars(
        client_id: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<Self, ConfigError> {
        let vars = Vars(var);
        let bootstrap_servers = vars.required("KAFKA_BOOTSTRAP_SERVERS")?;
        let auth = match vars.optional("KAFKA_AUTH").as_deref() {
            None | Some("plaintext") => KafkaAuth::Plaintext,
            Some("msk-iam") => KafkaAuth::MskIam {
                region: vars.required("AWS_REGION")?,
            },
            Some(other) => {
                return Err(ConfigError::invalid(
                    "KAFKA_AUTH",
                    "plaintext or msk-iam",
                    other,
                ));
            }
        };
        Ok(Self {
            bootstrap_servers,
            auth,
            client_id: client_id.to_owned(),
            delivery_timeout: Self::DEFAULT_DELIVERY_TIMEOUT,
        })
    }

    /// The client settings every orderflow Kafka client shares.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("client.id", &self.client_id)
            .set_log_level(RDKafkaLogLevel::Warning);
        match self.auth {
            KafkaAuth::Plaintext => config.set("security.protocol", "plaintext"),
            KafkaAuth::MskIam { .. } => config
                .set("security.protocol", "sasl_ssl")
                .set("sasl.mechanism", "OAUTHBEARER"),
        };
        config
    }

    /// Producer settings: every acknowledged event is on all in-sync replicas, retries cannot
    /// duplicate or reorder, and one event per request is sent at once rather than lingering.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "1")
            .set(
                "message.timeout.ms",
                self.delivery_timeout.as_millis().to_string(),
            )
            // The Java client's partitioner, so a key maps to the same partition from any client.
            .set("partitioner", "murmur2_random");
        config
    }
}

/// A consumed record as the event source mapping hands it on: topic, partition, offset, key,
/// value and headers, copied out of the consumer's buffer.
pub fn raw_record(message: &impl rdkafka::Message) -> RawRecord {
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default();
    RawRecord {
        topic: message.topic().to_owned(),
        partition: i64::from(message.partition()),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
    }
}

/// Every record on `topic` from the start of each partition to its end as the broker's fetches
/// report it, in partition then offset order; for tools and tests that inspect a topic.
///
/// The end is where each partition's fetch comes back empty (librdkafka's partition EOF), and no
/// earlier than the latest offset the broker lists. Not that offset alone: the local broker lists
/// the base offset of a partition's last record batch plus one, so a batch of several records
/// would end the read after its first record. Records acknowledged before the call are all read,
/// with no waiting for "silence"; the partitions are assigned, so no consumer group is joined.
pub async fn read_to_end(
    config: &KafkaConfig,
    topic: &str,
    within: Duration,
) -> std::result::Result<Vec<rdkafka::message::OwnedMessage>, String> {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
    use rdkafka::{Offset, TopicPartitionList};

    let listed = {
        let (config, name) = (config.clone(), topic.to_owned());
        // rdkafka's metadata and offset calls block: off the runtime's threads.
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer =
                config.client_config().create().map_err(|e| e.to_string())?;
            let metadata = consumer
                .fetch_metadata(Some(&name), Duration::from_secs(10))
                .map_err(|err| format!("reading the metadata of {name}: {err}"))?;
            let mut listed = Vec::new();
            for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
                let (_, high) = consumer
                    .fetch_watermarks(&name, partition.id(), Duration::from_secs(10))
                    .map_err(|err| {
                        format!("reading the offsets of {name}/{}: {err}", partition.id())
                    })?;
                listed.push((partition.id(), high));
            }
            Ok::<_, String>(listed)
        })
        .await
        .map_err(|err| err.to_string())??
    };
    if listed.is_empty() {
        return Err(format!("{topic} has no partitions"));
    }
    let consumer: StreamConsumer = config
        .client_config()
        .set("group.id", format!("{}-reader", config.client_id))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .map_err(|err| err.to_string())?;
    let mut assignment = TopicPartitionList::new();
    for (partition, _) in &listed {
        assignment
            .add_partition_offset(topic, *partition, Offset::Beginning)
            .map_err(|err| err.to_string())?;
    }
    consumer
        .assign(&assignment)
        .map_err(|err| err.to_string())?;
    // Per partition: the offset to reach at least, and the next offset to read.
    let mut unread: Vec<(i32, i64, i64)> = listed.iter().map(|&(p, high)| (p, high, 0)).collect();
    let mut records = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while !unread.is_empty() {
        let received = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .map_err(|_| format!("{topic} was not read to its end within {within:?}"))?;
        match received {
            Ok(message) => {
                let (partition, offset) = (message.partition(), message.offset());
                if let Some(entry) = unread.iter_mut().find(|(p, ..)| *p == partition) {
                    entry.2 = offset + 1;
                }
                records.push(message.detach());
            }
            Err(KafkaError::PartitionEOF(partition)) => {
                unread.retain(|&(p, listed, next)| p != partition || next < listed);
            }
            Err(err) => return Err(format!("reading {topic}: {err}")),
        }
    }
    records.sort_by_key(|record| (record.partition(), record.offset()));
    Ok(records)
}

/// The rdkafka client context: forwards librdkafka's log to `tracing`, and supplies MSK IAM
/// tokens when the client uses OAUTHBEARER.
pub struct KafkaContext {
    iam: Option<IamSigner>,
}

struct IamSigner {
    region: Region,
    credentials: SharedCredentialsProvider,
    runtime: Handle,
}

impl KafkaContext {
    /// A context for `config`. MSK IAM needs the AWS credentials provider (the function's role)
    /// and must be called inside the Tokio runtime, which signs the tokens.
    pub fn new(
        config: &KafkaConfig,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Result<Self> {
        let iam = match &config.auth {
            KafkaAuth::Plaintext => None,
            KafkaAuth::MskIam { region } => {
                let credentials = credentials.ok_or_else(|| Error::Rejected {
                    dependency: KAFKA,
                    action: "configure MSK IAM authentication",
                    source: "no AWS credentials provider".into(),
                })?;
                let runtime = Handle::try_current().map_err(|err| Error::Rejected {
                    dependency: KAFKA,
                    action: "configure MSK IAM authentication",
                    source: Box::new(err),
                })?;
                Some(IamSigner {
                    region: Region::new(region.clone()),
                    credentials,
                    runtime,
                })
            }
        };
        Ok(Self { iam })
    }
}

impl ClientContext for KafkaContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> std::result::Result<OAuthToken, Box<dyn std::error::Error>> {
        let Some(signer) = &self.iam else {
            return Err("OAUTHBEARER is only configured for MSK IAM authentication".into());
        };
        let region = signer.region.clone();
        let credentials = signer.credentials.clone();
        let runtime = signer.runtime.clone();
        // librdkafka calls this on its own thread; a scoped thread keeps `block_on` off any thread
        // that might be driving the runtime.
        let signed = std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    runtime.block_on(async move {
                        tokio::time::timeout(
                            Duration::from_secs(10),
                            generate_auth_token_from_credentials_provider(region, credentials),
                        )
                        .await
                    })
                })
                .join()
        });
        let (token, lifetime_ms) = match signed {
            Ok(Ok(Ok(token))) => token,
            Ok(Ok(Err(err))) => {
                return Err(format!("signing the MSK IAM token failed: {err}").into());
            }
            Ok(Err(_)) => return Err("signing the MSK IAM token timed out".into()),
            Err(_) => return Err("signing the MSK IAM token panicked".into()),
        };
        Ok(OAuthToken {
            token,
            principal_name: String::new(),
            lifetime_ms,
        })
    }
}

impl ConsumerContext for KafkaContext {}

/// Creates a producer for `config`. Once per cold start: it holds the broker connections.
fn create_producer(
    config: &KafkaConfig,
    credentials: Option<SharedCredentialsProvider>,
) -> Result<FutureProducer<KafkaContext>> {
    config
        .producer_config()
        .create_with_context(KafkaContext::new(config, credentials)?)
        .map_err(|err| Error::Rejected {
            dependency: KAFKA,
            action: "create a producer",
            source: Box::new(err),
        })
}

/// Whether the broker refused the producer's identity (its producer id and epoch) rather than the
/// record. librdkafka does not always call this a fatal error, yet every later send by the same
/// producer fails the same way: measured against the local broker after it was frozen for 5 s,
/// every publish for 30 s answered `ProducerFenced`. Only a new producer, which gets a new id from
/// the broker, gets through.
fn is_fenced(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::InvalidProducerIdMapping
        )
    )
}

/// Whether a produce error is worth retrying: broker or network trouble, not a bad record.
fn produce_error(action: &'static str, error: KafkaError) -> Error {
    let permanent = matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::InvalidRecord
        )
    );
    let source = Box::new(error);
    if permanent {
        Error::Rejected {
            dependency: KAFKA,
            action,
            source,
        }
    } else {
        Error::Unavailable {
            dependency: KAFKA,
            action,
            source,
        }
    }
}

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// The pauses between the metadata requests of [`KafkaPublisher::warm_up`]: time for the producer
/// to connect to the brokers it learned (about a millisecond to the local broker, tens with TLS
/// and IAM authentication). A broker slower than that leaves the producer id to librdkafka's timer.
const WARM_UP_PAUSES: [Duration; 2] = [Duration::from_millis(10), Duration::from_millis(30)];

/// Publishes order events to one topic, keyed by order id so that an order's events stay in order.
///
/// The producer is idempotent, and an idempotent producer can be left unusable for good: after a
/// fatal error (librdkafka's `fatal_error`), or once the broker fences its identity (for example
/// `ProducerFenced` after the broker stalled for a few seconds). A warm Lambda execution
/// environment lives for hours, so the publisher replaces a producer in either state with a new
/// one: the publish that met the error fails retryably, the next one goes through.
#[derive(Clone)]
pub struct KafkaPublisher {
    producer: Arc<ReplaceableProducer>,
    topic: String,
}

/// The current producer and what it takes to build its replacement.
struct ReplaceableProducer {
    config: KafkaConfig,
    credentials: Option<SharedCredentialsProvider>,
    current: RwLock<FutureProducer<KafkaContext>>,
    replacements: AtomicU64,
}

impl ReplaceableProducer {
    /// The producer to send through: the current one, or its replacement if it is in a fatal state.
    fn get(&self) -> Result<FutureProducer<KafkaContext>> {
        let producer = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some((code, reason)) = producer.client().fatal_error() {
            return self.replace(&producer, &format!("fatal error {code:?}: {reason}"));
        }
        Ok(producer)
    }

    /// Replaces `failed` unless another task already did, and returns the current producer. The
    /// same settings built a producer at cold start, so a failure to build one now is retryable.
    fn replace(
        &self,
        failed: &FutureProducer<KafkaContext>,
        reason: &str,
    ) -> Result<FutureProducer<KafkaContext>> {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if current.client().native_ptr() == failed.client().native_ptr() {
            let fresh = create_producer(&self.config, self.credentials.clone()).map_err(|err| {
                Error::Unavailable {
                    dependency: KAFKA,
                    action: "replace a failed producer",
                    source: Box::new(err),
                }
            })?;
            let replaced = std::mem::replace(&mut *current, fresh);
            let replacements = self.replacements.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(
                reason,
                replacements,
                "the Kafka producer can no longer send and was replaced"
            );
            // Dropping purges the failed producer's queue, which can block briefly: off the
            // runtime's worker threads when there is a runtime.
            match Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn_blocking(move || drop(replaced))),
                Err(_) => drop(replaced),
            }
        }
        Ok(current.clone())
    }
}

impl KafkaPublisher {
    /// A publisher to `topic` with a producer for `config`. Once per cold start: the producer holds
    /// the broker connections. MSK IAM authentication needs `credentials` and the Tokio runtime.
    pub fn connect(
        config: &KafkaConfig,
        credentials: Option<SharedCredentialsProvider>,
        topic: impl Into<String>,
    ) -> Result<Self> {
        let producer = create_producer(config, credentials.clone())?;
        Ok(Self {
            producer: Arc::new(ReplaceableProducer {
                config: config.clone(),
                credentials,
                current: RwLock::new(producer),
                replacements: AtomicU64::new(0),
            }),
            topic: topic.into(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Gets the producer ready for its first publish: once per cold start, before the first event.
    ///
    /// An idempotent producer sends nothing before the broker gave it a producer id, and
    /// librdkafka asks for one only through a broker it learned from metadata once that broker is
    /// connected, and only when a metadata response arrives or a 500 ms timer started with the
    /// producer fires. Left to the first publish, that took 0.5 or 1 s from the producer's
    /// creation (BENCHMARKS.md, figure 4). Here a metadata request makes the producer learn the
    /// brokers and connect to them, and the later ones, [`WARM_UP_PAUSES`] apart, find them
    /// connected and have it ask for its id. At most the delivery timeout in all; a failure is
    /// only logged, and the first publish then waits as it would have and reports its own error.
    pub async fn warm_up(&self) {
        let started = Instant::now();
        let producer = match self.producer.get() {
            Ok(producer) => producer,
            Err(err) => {
                tracing::warn!(error = %err, "the Kafka producer was not warmed up");
                return;
            }
        };
        let topic = self.topic.clone();
        let deadline = started + self.producer.config.delivery_timeout;
        // Blocking calls: off the runtime's worker threads.
        let warmed = tokio::task::spawn_blocking(move || {
            let fetch = || {
                let left = deadline.saturating_duration_since(Instant::now());
                producer
                    .client()
                    .fetch_metadata(Some(&topic), Timeout::After(left))
                    .map(drop)
            };
            fetch()?;
            for pause in WARM_UP_PAUSES {
                std::thread::sleep(pause);
                fetch()?;
            }
            Ok::<_, KafkaError>(())
        })
        .await
        .map_err(|failed| failed.to_string())
        .and_then(|fetched| fetched.map_err(|err| err.to_string()));
        let elapsed_ms = started.elapsed().as_millis();
        match warmed {
            Ok(()) => debug!(elapsed_ms, "Kafka producer warmed up"),
            Err(error) => tracing::warn!(error, elapsed_ms, "the Kafka producer was not warmed up"),
        }
    }

    /// How many producers this publisher replaced because they could no longer send.
    pub fn replacements(&self) -> u64 {
        self.producer.replacements.load(Ordering::Relaxed)
    }

    /// Puts the current producer in librdkafka's fatal state, as a broker stall can: for tests of
    /// the replacement.
    #[cfg(any(test, feature = "testing"))]
    pub fn inject_fatal_error(&self) -> Result<()> {
        let producer = self.producer.get()?;
        // SAFETY: the pointer is the live client of `producer`, which is held for the call, and
        // the reason is a NUL-terminated string.
        let injected = unsafe {
            rdkafka::bindings::rd_kafka_test_fatal_error(
                producer.client().native_ptr(),
                rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED,
                c"injected by a test".as_ptr(),
            )
        };
        match injected {
            rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR => Ok(()),
            other => Err(Error::Rejected {
                dependency: KAFKA,
                action: "inject a fatal error",
                source: format!("{other:?}").into(),
            }),
        }
    }

    /// Sends one record to any topic and waits for the broker's acknowledgement.
    pub async fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: OwnedHeaders,
    ) -> Result<Delivered> {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic).headers(headers);
        record.key = key;
        record.payload = payload;
        // A full local queue waits as long as a delivery may take; after that the producer fails
        // the record itself (message.timeout.ms).
        let producer = self.producer.get()?;
        let delivery = match producer
            .send(
                record,
                Timeout::After(self.producer.config.delivery_timeout),
            )
            .await
        {
            Ok(delivery) => delivery,
            Err((err, _)) => {
                let unusable = match producer.client().fatal_error() {
                    Some((code, reason)) => Some(format!("fatal error {code:?}: {reason}")),
                    None => is_fenced(&err).then(|| format!("fenced by the broker: {err}")),
                };
                if let Some(reason) = unusable {
                    // This publish reports its own error; the next one retries the replacement.
                    if let Err(replacing) = self.producer.replace(&producer, &reason) {
                        tracing::error!(error = %replacing, "the failed Kafka producer was not replaced");
                    }
                }
                return Err(produce_error("publish a record", err));
            }
        };
        Ok(Delivered {
            partition: delivery.partition,
            offset: delivery.offset,
        })
    }

    /// How many records the producer holds that the broker has not acknowledged yet.
    pub fn in_flight(&self) -> Result<i32> {
        Ok(self.producer.get()?.in_flight_count())
    }

    /// Waits until every record sent so far is acknowledged: on shutdown, so nothing is lost.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.producer
            .get()?
            .flush(Timeout::After(timeout))
            .map_err(|err| produce_error("flush the producer", err))
    }
}

impl EventPublisher for KafkaPublisher {
    #[instrument(skip_all, fields(order_id = %event.order_id, event_type = %event.event_type))]
    async fn publish(&self, event: &OrderEvent) -> Result<()> {
        let payload = serde_json::to_vec(event).map_err(|err| Error::Rejected {
            dependency: KAFKA,
            action: "encode an event",
            source: Box::new(err),
        })?;
        let mut record_headers = OwnedHeaders::new()
            .insert(Header {
                key: headers::EVENT_TYPE,
                value: Some(event.event_type.as_str()),
            })
            .insert(Header {
                key: headers::CONTENT_TYPE,
                value: Some(headers::JSON),
            });
        if let Some(id) = &event.event_id {
            record_headers = record_headers.insert(Header {
                key: headers::EVENT_ID,
                value: Some(id.as_str()),
            });
        }
        let delivered = self
            .send(
                &self.topic,
                Some(event.order_id.as_str().as_bytes()),
                Some(&payload),
                record_headers,
            )
            .await?;
        debug!(
            partition = delivered.partition,
            offset = delivered.offset,
            "event published"
        );
        Ok(())
    }
}

/// Names of the headers a dead-lettered record gets besides its own.
pub mod dead_letter_headers {
    pub const REASON: &str = "dlq-reason";
    pub const SOURCE_TOPIC: &str = "dlq-source-topic";
    pub const SOURCE_PARTITION: &str = "dlq-source-partition";
    pub const SOURCE_OFFSET: &str = "dlq-source-offset";
}

/// The dead-letter topic: each record with its original key, value and headers, plus headers that
/// say why and where it came from, so it can be inspected and replayed.
#[derive(Clone)]
pub struct KafkaDeadLetters {
    publisher: KafkaPublisher,
    topic: String,
}

impl KafkaDeadLetters {
    /// Sends through `publisher`'s producer to `topic`.
    pub fn new(publisher: KafkaPublisher, topic: impl Into<String>) -> Self {
        Self {
            publisher,
            topic: topic.into(),
        }
    }
}

impl DeadLetters for KafkaDeadLetters {
    async fn dead_letter(&self, record: &RawRecord, reason: &str) -> Result<()> {
        use dead_letter_headers::*;
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len() + 4);
        for (name, value) in &record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        headers = headers
            .insert(Header {
                key: REASON,
                value: Some(reason),
            })
            .insert(Header {
                key: SOURCE_TOPIC,
                value: Some(&record.topic),
            })
            .insert(Header {
                key: SOURCE_PARTITION,
                value: Some(&partition),
            })
            .insert(Header {
                key: SOURCE_OFFSET,
                value: Some(&offset),
            });
        let delivered = self
            .publisher
            .send(
                &self.topic,
                record.key.as_deref(),
                record.value.as_deref(),
                headers,
            )
            .await?;
        info!(
            dlq_partition = delivered.partition,
            dlq_offset = delivered.offset,
            "record dead-lettered"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> std::result::Result<KafkaConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        KafkaConfig::from_vars("test", |name| vars.get(name).cloned())
    }

    #[test]
    fn configuration_defaults_to_plaintext() {
        let config = from(&[("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")]).unwrap();
        assert_eq!(config.auth, KafkaAuth::Plaintext);
        assert_eq!(
            config.client_config().get("security.protocol"),
            Some("plaintext")
        );
    }

    #[test]
    fn msk_iam_uses_sasl_ssl_with_oauthbearer() {
        let config = from(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "b-1.msk:9098"),
            ("KAFKA_AUTH", "msk-iam"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(
            config.auth,
            KafkaAuth::MskIam {
                region: "eu-west-1".into()
            }
        );
        let client = config.producer_config();
        assert_eq!(client.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(client.get("sasl.mechanism"), Some("OAUTHBEARER"));
        assert_eq!(client.get("acks"), Some("all"));
        assert_eq!(client.get("enable.idempotence"), Some("true"));
        assert_eq!(client.get("message.timeout.ms"), Some("5000"));
    }

    #[test]
    fn configuration_errors_name_the_variable() {
        assert_eq!(
            from(&[]).unwrap_err().to_string(),
            "KAFKA_BOOTSTRAP_SERVERS is not set"
        );
        let err = from(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "b:9098"),
            ("KAFKA_AUTH", "sasl"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"KAFKA_AUTH must be plaintext or msk-iam, not "sasl""#
        );
        let err = from(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "b:9098"),
            ("KAFKA_AUTH", "msk-iam"),
        ])
        .unwrap_err();
        assert_eq!(err.to_string(), "AWS_REGION is not set");
    }
}
