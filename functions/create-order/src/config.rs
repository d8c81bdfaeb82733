//! The only place this function reads its environment. Fails at cold start, naming the variable.

use orderflow_adapters::api::ApiSettings;
use orderflow_adapters::config::ConfigError;

pub fn from_env() -> Result<ApiSettings, ConfigError> {
    ApiSettings::from_vars(|name| std::env::var(name).ok())
}
