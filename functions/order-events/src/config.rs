//! The only place this function reads its environment. Fails at cold start, naming the variable.

use orderflow_core::adapters::kafka::KafkaConfig;
use orderflow_core::schema::TableNames;

#[derive(Debug, Clone)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub tables: TableNames,
    /// Where `cancelled` events go: `ORDER_EVENTS_TOPIC`, by default `order-events`.
    pub topic: String,
    /// `ORDER_EVENTS_DLQ_TOPIC`, by default `order-events-dlq`.
    pub dead_letter_topic: String,
    /// `REPORT_BATCH_ITEM_FAILURES`: `true` (the default) answers with a partial batch response,
    /// for a mapping with `ReportBatchItemFailures`; `false` fails the whole invocation instead.
    pub report_batch_item_failures: bool,
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let prefix = var("DYNAMODB_TABLE_PREFIX").ok_or("DYNAMODB_TABLE_PREFIX is not set")?;
        let report_batch_item_failures = match var("REPORT_BATCH_ITEM_FAILURES").as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(format!(
                    "REPORT_BATCH_ITEM_FAILURES must be true or false, not {other:?}"
                ));
            }
        };
        Ok(Self {
            kafka: KafkaConfig::from_vars("order-events", &var)?,
            tables: TableNames::with_prefix(prefix),
            topic: var("ORDER_EVENTS_TOPIC").unwrap_or_else(|| "order-events".into()),
            dead_letter_topic: var("ORDER_EVENTS_DLQ_TOPIC")
                .unwrap_or_else(|| "order-events-dlq".into()),
            report_batch_item_failures,
        })
    }
}
