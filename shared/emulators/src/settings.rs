//! The only place the emulators read the environment.

use std::time::Duration;

use orderflow_core::adapters::kafka::KafkaConfig;
use orderflow_emulators::msk::MskSettings;
use orderflow_emulators::scheduler::{AsyncInvokeSettings, FireTime, SchedulerSettings};

pub struct Settings {
    pub lambda_endpoint: String,
    pub invoke_timeout: Duration,
    pub msk: MskSettings,
    pub scheduler: SchedulerSettings,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn var_or(name: &str, default: &str) -> String {
    var(name).unwrap_or_else(|| default.to_owned())
}

fn number(name: &str, default: u64) -> Result<u64, String> {
    match var(name) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|_| format!("{name} must be a whole number, not {raw:?}")),
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        let kafka = KafkaConfig::from_vars("orderflow-msk-emulator", var)?;
        let batch_size = number("ESM_BATCH_SIZE", 100)?;
        if !(1..=10_000).contains(&batch_size) {
            return Err(format!(
                "ESM_BATCH_SIZE must be from 1 to 10000, not {batch_size}"
            ));
        }
        Ok(Self {
            lambda_endpoint: var_or("LAMBDA_ENDPOINT", "http://127.0.0.1:9000"),
            invoke_timeout: Duration::from_secs(number("LAMBDA_INVOKE_TIMEOUT_SECONDS", 120)?),
            msk: MskSettings {
                event_source_arn: format!(
                    "arn:aws:kafka:{}:000000000000:cluster/local/{}",
                    var_or("AWS_REGION", "us-east-1"),
                    kafka.bootstrap_servers.replace([':', ','], "-")
                ),
                kafka,
                topic: var_or("ESM_TOPIC", "order-events"),
                group_id: var_or("ESM_CONSUMER_GROUP_ID", "orderflow-order-events"),
                function: var_or("ESM_FUNCTION", "order-events"),
                batch_size: batch_size as usize,
                batching_window: Duration::from_millis(number("ESM_BATCHING_WINDOW_MS", 500)?),
            },
            scheduler: SchedulerSettings {
                group: var_or("SCHEDULE_GROUP_NAME", "orderflow-timeouts"),
                poll_interval: Duration::from_millis(number("SCHEDULER_POLL_MS", 1000)?),
                fire: FireTime::parse(&var_or("SCHEDULER_FIRE_OFFSET", "0"))?,
                max_concurrent: number("SCHEDULER_MAX_CONCURRENT", 16)?.max(1) as usize,
                async_invoke: AsyncInvokeSettings {
                    max_retry_attempts: u32::try_from(number(
                        "LAMBDA_ASYNC_MAX_RETRY_ATTEMPTS",
                        2,
                    )?)
                    .ok()
                    .filter(|attempts| *attempts <= 2)
                    .ok_or("LAMBDA_ASYNC_MAX_RETRY_ATTEMPTS must be from 0 to 2")?,
                    retry_delay: Duration::from_secs(number(
                        "LAMBDA_ASYNC_RETRY_DELAY_SECONDS",
                        60,
                    )?),
                    max_event_age: Duration::from_secs(number(
                        "LAMBDA_ASYNC_MAX_EVENT_AGE_SECONDS",
                        3600,
                    )?),
                    on_failure_queue_arn: var("LAMBDA_ASYNC_ON_FAILURE_QUEUE_ARN"),
                },
            },
        })
    }
}
