//! The only place this function reads its environment. Fails at cold start, naming the variable.

use orderflow_adapters::config::{ConfigError, Vars};
use orderflow_adapters::dynamodb::schema::TableNames;
use orderflow_adapters::kafka::KafkaConfig;

#[derive(Debug, Clone)]
pub struct Config {
    /// The brokers of the dead-letter topic: the only topic this function writes to.
    pub kafka: KafkaConfig,
    pub tables: TableNames,
    /// `ORDER_EVENTS_DLQ_TOPIC`, by default `order-events-dlq`.
    pub dead_letter_topic: String,
    /// `REPORT_BATCH_ITEM_FAILURES`: `true` (the default) answers with a partial batch response,
    /// for a mapping with `ReportBatchItemFailures`; `false` fails the whole invocation instead.
    pub report_batch_item_failures: bool,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&var);
        Ok(Self {
            kafka: KafkaConfig::from_vars("order-events", &var)?,
            tables: TableNames::with_prefix(vars.required("DYNAMODB_TABLE_PREFIX")?),
            dead_letter_topic: vars.or("ORDER_EVENTS_DLQ_TOPIC", "order-events-dlq"),
            report_batch_item_failures: vars.flag("REPORT_BATCH_ITEM_FAILURES", true)?,
        })
    }
}
