//! Events to Kafka with rdkafka: plaintext for the local broker, SASL_SSL with IAM (OAUTHBEARER
//! tokens signed by the MSK IAM signer) for Amazon MSK.

use std::time::Duration;

use aws_msk_iam_sasl_signer::generate_auth_token_from_credentials_provider;
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

use crate::error::{Dependency, Error, Result};
use crate::events::{DeadLetters, RawRecord};
use crate::ports::EventPublisher;

const KAFKA: Dependency = Dependency::Kafka;

/// How clients authenticate to the brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KafkaAuth {
    /// No TLS, no authentication: the local broker.
    Plaintext,
    /// TLS with IAM authentication: Amazon MSK (port 9098).
    MskIam { region: String },
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
    ) -> std::result::Result<Self, String> {
        let bootstrap_servers = var("KAFKA_BOOTSTRAP_SERVERS")
            .filter(|servers| !servers.trim().is_empty())
            .ok_or("KAFKA_BOOTSTRAP_SERVERS is not set")?;
        let auth = match var("KAFKA_AUTH").as_deref() {
            None | Some("plaintext") => KafkaAuth::Plaintext,
            Some("msk-iam") => KafkaAuth::MskIam {
                region: var("AWS_REGION").ok_or("KAFKA_AUTH=msk-iam needs AWS_REGION")?,
            },
            Some(other) => {
                return Err(format!(
                    "KAFKA_AUTH must be plaintext or msk-iam, not {other:?}"
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
pub fn create_producer(
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

/// Publishes order events to one topic, keyed by order id so that an order's events stay in order.
#[derive(Clone)]
pub struct KafkaPublisher {
    producer: FutureProducer<KafkaContext>,
    topic: String,
}

impl KafkaPublisher {
    pub fn new(producer: FutureProducer<KafkaContext>, topic: impl Into<String>) -> Self {
        Self {
            producer,
            topic: topic.into(),
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
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
        let delivery = self
            .producer
            .send(
                record,
                Timeout::After(KafkaConfig::DEFAULT_DELIVERY_TIMEOUT),
            )
            .await
            .map_err(|(err, _)| produce_error("publish a record", err))?;
        Ok(Delivered {
            partition: delivery.partition,
            offset: delivery.offset,
        })
    }

    /// Waits until every record sent so far is acknowledged: on shutdown, so nothing is lost.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.producer
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

    fn from(vars: &[(&str, &str)]) -> std::result::Result<KafkaConfig, String> {
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
        assert_eq!(from(&[]).unwrap_err(), "KAFKA_BOOTSTRAP_SERVERS is not set");
        let err = from(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "b:9098"),
            ("KAFKA_AUTH", "sasl"),
        ])
        .unwrap_err();
        assert!(err.starts_with("KAFKA_AUTH must be"), "{err}");
        let err = from(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "b:9098"),
            ("KAFKA_AUTH", "msk-iam"),
        ])
        .unwrap_err();
        assert_eq!(err, "KAFKA_AUTH=msk-iam needs AWS_REGION");
    }
}
