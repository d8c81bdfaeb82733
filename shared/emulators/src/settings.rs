//! The only place the emulators read the environment.

use std::time::Duration;

use orderflow_adapters::config::{ConfigError, Vars};
use orderflow_adapters::kafka::KafkaConfig;
use orderflow_emulators::msk::MskSettings;
use orderflow_emulators::scheduler::{AsyncInvokeSettings, FireTime, SchedulerSettings};

pub struct Settings {
    pub lambda_endpoint: String,
    pub invoke_timeout: Duration,
    pub msk: MskSettings,
    pub scheduler: SchedulerSettings,
}

/// Unset and empty are the same here: `make run` passes every variable, some empty.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars = Vars(var);
        let kafka = KafkaConfig::from_vars("orderflow-msk-emulator", var)?;
        let seconds = |name, default| vars.number(name, default, 0..=u32::MAX).map(u64::from);
        let millis = |name, default| seconds(name, default).map(Duration::from_millis);
        Ok(Self {
            lambda_endpoint: vars.or("LAMBDA_ENDPOINT", "http://127.0.0.1:9000"),
            invoke_timeout: Duration::from_secs(seconds("LAMBDA_INVOKE_TIMEOUT_SECONDS", 120)?),
            msk: MskSettings {
                event_source_arn: format!(
                    "arn:aws:kafka:{}:000000000000:cluster/local/{}",
                    vars.or("AWS_REGION", "us-east-1"),
                    kafka.bootstrap_servers.replace([':', ','], "-")
                ),
                kafka,
                topic: vars.or("ESM_TOPIC", "order-events"),
                group_id: vars.or("ESM_CONSUMER_GROUP_ID", "orderflow-order-events"),
                function: vars.or("ESM_FUNCTION", "order-events"),
                batch_size: vars.number("ESM_BATCH_SIZE", 100, 1..=10_000)? as usize,
                batching_window: millis("ESM_BATCHING_WINDOW_MS", 500)?,
            },
            scheduler: SchedulerSettings {
                group: vars.or("SCHEDULE_GROUP_NAME", "orderflow-timeouts"),
                poll_interval: millis("SCHEDULER_POLL_MS", 1000)?,
                fire: FireTime::parse(&vars.or("SCHEDULER_FIRE_OFFSET", "0"))?,
                max_concurrent: vars.number("SCHEDULER_MAX_CONCURRENT", 16, 1..=1024)? as usize,
                async_invoke: AsyncInvokeSettings {
                    max_retry_attempts: vars.number("LAMBDA_ASYNC_MAX_RETRY_ATTEMPTS", 2, 0..=2)?,
                    retry_delay: Duration::from_secs(seconds(
                        "LAMBDA_ASYNC_RETRY_DELAY_SECONDS",
                        60,
                    )?),
                    max_event_age: Duration::from_secs(seconds(
                        "LAMBDA_ASYNC_MAX_EVENT_AGE_SECONDS",
                        3600,
                    )?),
                    on_failure_queue_arn: vars.optional("LAMBDA_ASYNC_ON_FAILURE_QUEUE_ARN"),
                },
            },
        })
    }
}
