//! Clients for the local services (moto for DynamoDB and the Scheduler, the Kafka broker), with
//! names unique per test so that tests run in parallel without sharing state.
//!
//! The AWS SDK finds moto through `AWS_ENDPOINT_URL` (the Makefile sets it); the broker is at
//! `KAFKA_BOOTSTRAP_SERVERS`, by default `127.0.0.1:9092`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::OnceCell;

use crate::adapters::dynamodb::{DynamoStore, admin};
use crate::adapters::kafka::{KafkaAuth, KafkaConfig};
use crate::schema::TableNames;

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

/// The AWS configuration for the local services, loaded once per test binary.
pub async fn aws_config() -> &'static SdkConfig {
    static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();
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

pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(aws_config().await)
}

pub async fn scheduler_client() -> aws_sdk_scheduler::Client {
    aws_sdk_scheduler::Client::new(aws_config().await)
}

/// A fresh set of tables, created from the schema under a unique prefix.
pub async fn fresh_tables() -> TableNames {
    let names = TableNames::with_prefix(format!("{}-", unique_name("test")));
    admin::create_tables(&dynamodb_client().await, &names)
        .await
        .unwrap_or_else(|err| {
            panic!(
                "creating tables in moto failed: {}",
                crate::error::chain(&err)
            )
        });
    names
}

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
    let name = unique_name("test-topic");
    let admin: AdminClient<DefaultClientContext> = kafka_config()
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

/// Every record on `topic` from the start of each partition up to the partition's end offset as
/// it is now, in partition then offset order.
///
/// Producers here return only once the broker has acknowledged a record, so after the calls
/// under test have returned, what they published is below the end offsets: reading to them sees
/// every record, duplicates included, with no waiting for "silence". The partitions are assigned,
/// not subscribed to, so there is no consumer group to join either.
pub async fn read_topic(topic: &str) -> Vec<OwnedMessage> {
    let config = kafka_config();
    let ends = {
        let (config, name) = (config.clone(), topic.to_owned());
        // rdkafka's metadata and watermark calls block: off the runtime's threads.
        tokio::task::spawn_blocking(move || end_offsets(&config, &name))
            .await
            .unwrap_or_else(|err| panic!("reading the end offsets of {topic} failed: {err}"))
    };
    let consumer: StreamConsumer = config
        .client_config()
        .set("group.id", unique_name("test-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap_or_else(|err| panic!("creating a consumer failed: {err}"));
    let mut assignment = TopicPartitionList::new();
    let mut unread = Vec::new();
    for &(partition, low, high) in &ends {
        if high > low {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .unwrap_or_else(|err| panic!("assigning {topic}/{partition} failed: {err}"));
            unread.push((partition, high));
        }
    }
    if unread.is_empty() {
        return Vec::new();
    }
    consumer
        .assign(&assignment)
        .unwrap_or_else(|err| panic!("assigning {topic} failed: {err}"));
    let mut records = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !unread.is_empty() {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("{topic} was not read to its end offsets {ends:?} within 30 s")
            })
            .unwrap_or_else(|err| panic!("reading {topic} failed: {err}"));
        let (partition, offset) = (message.partition(), message.offset());
        let Some(index) = unread.iter().position(|&(p, _)| p == partition) else {
            continue; // a partition already read to its end
        };
        if offset < unread[index].1 {
            records.push(message.detach());
        }
        if offset + 1 >= unread[index].1 {
            unread.swap_remove(index);
        }
    }
    records.sort_by_key(|record| (record.partition(), record.offset()));
    records
}

/// `(partition, low, high)` watermarks of every partition of `topic`.
fn end_offsets(config: &KafkaConfig, topic: &str) -> Vec<(i32, i64, i64)> {
    let consumer: BaseConsumer = config
        .client_config()
        .create()
        .unwrap_or_else(|err| panic!("creating a consumer failed: {err}"));
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .unwrap_or_else(|err| panic!("reading the metadata of {topic} failed: {err}"));
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    assert!(!partitions.is_empty(), "{topic} has no partitions");
    partitions
        .into_iter()
        .map(|partition| {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, timeout)
                .unwrap_or_else(|err| {
                    panic!("reading the offsets of {topic}/{partition} failed: {err}")
                });
            (partition, low, high)
        })
        .collect()
}
