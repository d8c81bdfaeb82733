//! The only place this function reads its environment. Fails at cold start, naming the variable.

use orderflow_adapters::api::ApiSettings;
use orderflow_adapters::config::ConfigError;

/// How this function names itself to the Kafka brokers.
const CLIENT_ID: &str = "create-order";

pub fn from_env() -> Result<ApiSettings, ConfigError> {
    ApiSettings::from_vars(CLIENT_ID, |name| std::env::var(name).ok())
}
