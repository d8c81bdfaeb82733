//! The only place `devstack` reads the environment. The names are the ones the functions use.

use std::time::Duration;

use orderflow_core::adapters::kafka::{KafkaAuth, KafkaConfig};
use orderflow_core::schema::TableNames;

pub struct Settings {
    pub tables: TableNames,
    pub kafka: KafkaConfig,
    pub topic: String,
    pub dead_letter_topic: String,
    pub partitions: i32,
    pub schedule_group: String,
    /// The functions' Lambda API, as `cargo lambda watch` serves it.
    pub lambda_endpoint: String,
    /// The payment timeout the functions run with.
    pub payment_timeout: Duration,
    /// The consumer group of the MSK event source mapping (emulated locally), whose committed
    /// offsets say what order-events has applied.
    pub consumer_group: String,
}

fn var_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        let partitions = var_or("KAFKA_TOPIC_PARTITIONS", "3");
        let partitions = partitions
            .parse::<i32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                format!("KAFKA_TOPIC_PARTITIONS must be a positive integer, got {partitions:?}")
            })?;
        let payment_timeout = var_or("PAYMENT_TIMEOUT_SECONDS", "1800");
        let payment_timeout = payment_timeout.parse::<u64>().map_err(|_| {
            format!("PAYMENT_TIMEOUT_SECONDS must be a whole number, got {payment_timeout:?}")
        })?;
        Ok(Self {
            tables: TableNames::with_prefix(var_or("DYNAMODB_TABLE_PREFIX", "orderflow-local-")),
            kafka: KafkaConfig {
                bootstrap_servers: var_or("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                auth: KafkaAuth::Plaintext,
                client_id: "orderflow-devstack".into(),
                delivery_timeout: Duration::from_secs(5),
            },
            topic: var_or("ORDER_EVENTS_TOPIC", "order-events"),
            dead_letter_topic: var_or("ORDER_EVENTS_DLQ_TOPIC", "order-events-dlq"),
            partitions,
            schedule_group: var_or("SCHEDULE_GROUP_NAME", "orderflow-timeouts"),
            lambda_endpoint: var_or("LAMBDA_ENDPOINT", "http://127.0.0.1:9000"),
            payment_timeout: Duration::from_secs(payment_timeout),
            consumer_group: var_or("ESM_CONSUMER_GROUP_ID", "orderflow-order-events"),
        })
    }
}
