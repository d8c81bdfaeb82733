//! The only place this function reads its environment. Fails at cold start, naming the variable.

use orderflow_core::adapters::kafka::KafkaConfig;

#[derive(Debug, Clone)]
pub struct Config {
    pub kafka: KafkaConfig,
    /// `ORDER_EVENTS_TOPIC`, by default `order-events`.
    pub topic: String,
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        Ok(Self {
            kafka: KafkaConfig::from_vars("order-timeout", &var)?,
            topic: var("ORDER_EVENTS_TOPIC").unwrap_or_else(|| "order-events".into()),
        })
    }
}
