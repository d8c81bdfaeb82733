//! The only place `devstack` reads the environment. The names are the ones the functions use.

use std::time::Duration;

use orderflow_adapters::config::{ConfigError, Vars};
use orderflow_adapters::dynamodb::schema::TableNames;
use orderflow_adapters::kafka::{KafkaAuth, KafkaConfig};

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

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars = Vars(|name: &str| std::env::var(name).ok());
        let partitions = vars.number("KAFKA_TOPIC_PARTITIONS", 3, 1..=1000)?;
        let payment_timeout = vars.number("PAYMENT_TIMEOUT_SECONDS", 1800, 0..=u32::MAX)?;
        Ok(Self {
            tables: TableNames::with_prefix(vars.or("DYNAMODB_TABLE_PREFIX", "orderflow-local-")),
            kafka: KafkaConfig {
                bootstrap_servers: vars.or("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                auth: KafkaAuth::Plaintext,
                client_id: "orderflow-devstack".into(),
                delivery_timeout: Duration::from_secs(5),
            },
            topic: vars.or("ORDER_EVENTS_TOPIC", "order-events"),
            dead_letter_topic: vars.or("ORDER_EVENTS_DLQ_TOPIC", "order-events-dlq"),
            // At most 1000 by the range above.
            partitions: partitions as i32,
            schedule_group: vars.or("SCHEDULE_GROUP_NAME", "orderflow-timeouts"),
            lambda_endpoint: vars.or("LAMBDA_ENDPOINT", "http://127.0.0.1:9000"),
            payment_timeout: Duration::from_secs(u64::from(payment_timeout)),
            consumer_group: vars.or("ESM_CONSUMER_GROUP_ID", "orderflow-order-events"),
        })
    }
}
