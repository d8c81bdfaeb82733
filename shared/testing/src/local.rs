//! Clients for the local services (moto for DynamoDB and the Scheduler, the Kafka broker), with
//! names unique per test so that tests run in parallel without sharing state.
//!
//! The AWS SDK finds moto through `AWS_ENDPOINT_URL` (the Makefile sets it); the broker is at
//! `KAFKA_BOOTSTRAP_SERVERS`, by default `127.0.0.1:9092`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[cfg(feature = "aws")]
use aws_config::SdkConfig;
#[cfg(feature = "aws")]
use orderflow_adapters::dynamodb::schema::TableNames;
#[cfg(feature = "aws")]
use orderflow_adapters::dynamodb::{DynamoStore, admin};
use orderflow_adapters::kafka::{KafkaAuth, KafkaConfig, read_to_end};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::OwnedMessage;

/// A name no other test in this run, or any earlier run against the same services, uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(feature = "aws")]
/// The AWS configuration for the local services, loaded once per test binary.
pub async fn aws_config() -> &'static SdkConfig {
    static CONFIG: tokio::sync::OnceCell<SdkConfig> = tokio::sync::OnceCell::const_new();
    CONFIG
        .get_or_init(|| async {
            assert!(
                std::env::var_os("AWS_ENDPOINT_URL").is_some(),
                "AWS_ENDPOINT_URL is not set: run the tests with `make test`, or start the \
                 services with `make services-up` and export the variables the Makefile sets"
            );
            aws_config::load_from_env().await
        })
        .await
}

/// How long one test of faults on the wire may take in all, whatever hangs.
pub const TEST_LIMIT: std::time::Duration = std::time::Duration::from_secs(90);

/// `future`, or a panic naming `what` once `limit` has passed: a bug fails the test instead of
/// hanging it.
pub async fn within<T>(
    limit: std::time::Duration,
    what: &str,
    future: impl std::future::Future<Output = T>,
) -> T {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {limit:?}"))
}

/// Checks `condition` every 5 ms until it holds, for at most `timeout`; whether it held.
pub async fn eventually(timeout: std::time::Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while !condition() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    true
}

/// A listener on a free local port, and its address: for the stand-ins tests put between a
/// client and a service.
pub async fn listener() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|err| panic!("binding a local port: {err}"));
    let address = listener
        .local_addr()
        .unwrap_or_else(|err| panic!("reading the bound address: {err}"));
    (listener, address)
}

/// Where moto listens: the host and port of `AWS_ENDPOINT_URL`.
#[cfg(feature = "aws")]
pub fn moto_address() -> std::net::SocketAddr {
    let url = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    authority
        .parse()
        .unwrap_or_else(|err| panic!("AWS_ENDPOINT_URL {url:?} is not http://<ip>:<port>: {err}"))
}

/// A DynamoDB client for `url` (a proxy or a stalled peer in front of the local services), with
/// the timeouts and retries the functions use.
#[cfg(feature = "aws")]
pub async fn dynamodb_client_at(url: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(aws_config().await)
        .endpoint_url(url)
        .timeout_config(orderflow_adapters::aws_timeouts())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A DynamoDB Streams client for moto, with the functions' timeouts.
#[cfg(feature = "aws")]
pub async fn dynamodb_streams_client() -> aws_sdk_dynamodbstreams::Client {
    let config = aws_sdk_dynamodbstreams::config::Builder::from(aws_config().await)
        .timeout_config(orderflow_adapters::aws_timeouts())
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(config)
}

/// A Scheduler client for `url`, with the timeouts and retries the functions use.
#[cfg(feature = "aws")]
pub async fn scheduler_client_at(url: &str) -> aws_sdk_scheduler::Client {
    let config = aws_sdk_scheduler::config::Builder::from(aws_config().await)
        .endpoint_url(url)
        .timeout_config(orderflow_adapters::aws_timeouts())
        .build();
    aws_sdk_scheduler::Client::from_conf(config)
}

#[cfg(feature = "aws")]
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(aws_config().await)
}

#[cfg(feature = "aws")]
pub async fn scheduler_client() -> aws_sdk_scheduler::Client {
    aws_sdk_scheduler::Client::new(aws_config().await)
}

#[cfg(feature = "aws")]
/// A fresh set of tables, created from the schema under a unique prefix.
pub async fn fresh_tables() -> TableNames {
    let names = TableNames::with_prefix(format!("{}-", unique_name("test")));
    admin::create_tables(&dynamodb_client().await, &names)
        .await
        .unwrap_or_else(|err| {
            panic!(
                "creating tables in moto failed: {}",
                orderflow_domain::error::cause_chain(&err)
            )
        });
    names
}

#[cfg(feature = "aws")]
/// A DynamoDB store on fresh tables.
pub async fn dynamo_store() -> DynamoStore {
    DynamoStore::new(dynamodb_client().await, &fresh_tables().await)
}

/// The local broker's address.
pub fn kafka_bootstrap_servers() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn kafka_config() -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: kafka_bootstrap_servers(),
        auth: KafkaAuth::Plaintext,
        client_id: unique_name("orderflow-test"),
        delivery_timeout: KafkaConfig::DEFAULT_DELIVERY_TIMEOUT,
    }
}

/// Creates a topic with a unique name and `partitions` partitions, and returns its name.
pub async fn fresh_topic(partitions: i32) -> String {
    fresh_topic_on(&kafka_config(), partitions).await
}

/// [`fresh_topic`] on the broker of `config`.
pub async fn fresh_topic_on(config: &KafkaConfig, partitions: i32) -> String {
    let name = unique_name("test-topic");
    let admin: AdminClient<DefaultClientContext> = config
        .client_config()
        .create()
        .unwrap_or_else(|err| panic!("creating a Kafka admin client failed: {err}"));
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(15)));
    let results = admin
        .create_topics(
            &[NewTopic::new(&name, partitions, TopicReplication::Fixed(1))],
            &options,
        )
        .await
        .unwrap_or_else(|err| panic!("creating topic {name} failed: {err}"));
    for result in results {
        if let Err((topic, code)) = result {
            panic!("creating topic {topic} failed: {code}");
        }
    }
    name
}

/// Every record on `topic`, in partition then offset order: [`read_to_end`] on the local broker.
/// Producers here return only once the broker has acknowledged a record, so after the calls under
/// test have returned, everything they published is read, duplicates included.
pub async fn read_topic(topic: &str) -> Vec<OwnedMessage> {
    read_to_end(&kafka_config(), topic, Duration::from_secs(30))
        .await
        .unwrap_or_else(|err| panic!("reading {topic} failed: {err}"))
}
