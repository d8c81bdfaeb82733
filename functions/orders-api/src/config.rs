//! The only place this function reads its environment. Fails at cold start, naming the variable.

use orderflow_http::settings::ApiSettings;

/// How this function names itself to the Kafka brokers.
const CLIENT_ID: &str = "orders-api";

pub fn from_env() -> Result<ApiSettings, String> {
    ApiSettings::from_vars(CLIENT_ID, |name| std::env::var(name).ok())
}
