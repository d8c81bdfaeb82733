//! The only place this function reads its environment. Fails at cold start, naming the variable.

use orderflow_adapters::config::ConfigError;
use orderflow_adapters::kafka::ProducerSettings;

/// How this function names itself to the Kafka brokers.
const CLIENT_ID: &str = "order-stream";

/// The brokers and the topic: all this function needs. The stream is read by the event source
/// mapping, which hands the function its records.
pub fn from_env() -> Result<ProducerSettings, ConfigError> {
    from_vars(|name| std::env::var(name).ok())
}

pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<ProducerSettings, ConfigError> {
    ProducerSettings::from_vars(CLIENT_ID, var)
}
