//! The only place the emulators read the environment.

use std::time::Duration;

use orderflow_adapters::config::{ConfigError, Vars};
use orderflow_adapters::kafka::KafkaConfig;
use orderflow_emulators::msk::MskSettings;
use orderflow_emulators::scheduler::{AsyncInvokeSettings, FireTime, SchedulerSettings};
use orderflow_emulators::streams::{StartingPosition, StreamSettings};

pub struct Settings {
    pub lambda_endpoint: String,
    pub invoke_timeout: Duration,
    pub msk: MskSettings,
    pub scheduler: SchedulerSettings,
    pub streams: StreamSettings,
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
        let region = vars.or("AWS_REGION", "us-east-1");
        Ok(Self {
            lambda_endpoint: vars.or("LAMBDA_ENDPOINT", "http://127.0.0.1:9000"),
            invoke_timeout: Duration::from_secs(seconds("LAMBDA_INVOKE_TIMEOUT_SECONDS", 120)?),
            msk: MskSettings {
                event_source_arn: format!(
                    "arn:aws:kafka:{region}:000000000000:cluster/local/{}",
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
            streams: stream_settings(&vars, region)?,
        })
    }
}

/// The local DynamoDB Streams event source mapping: by default the orders table under
/// `DYNAMODB_TABLE_PREFIX` (devstack's default prefix when unset) to order-stream, with the
/// defaults of [`StreamSettings::new`].
fn stream_settings(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
    region: String,
) -> Result<StreamSettings, ConfigError> {
    let table = vars.or(
        "STREAM_TABLE",
        &format!(
            "{}orders",
            vars.or("DYNAMODB_TABLE_PREFIX", "orderflow-local-")
        ),
    );
    let defaults = StreamSettings::new(table, vars.or("STREAM_FUNCTION", "order-stream"));
    let millis = |name, default: Duration, range| {
        let default = u32::try_from(default.as_millis()).unwrap_or(u32::MAX);
        vars.number(name, default, range)
            .map(|ms| Duration::from_millis(u64::from(ms)))
    };
    Ok(StreamSettings {
        region,
        starting_position: match vars.optional("STREAM_STARTING_POSITION") {
            Some(position) => StartingPosition::parse(&position)?,
            None => defaults.starting_position,
        },
        batch_size: vars.number(
            "STREAM_BATCH_SIZE",
            u32::try_from(defaults.batch_size).unwrap_or(100),
            1..=10_000,
        )? as usize,
        // -1 is no limit, as in the mapping's parameters.
        max_retry_attempts: unlimited_or(
            vars,
            "STREAM_MAX_RETRY_ATTEMPTS",
            defaults.max_retry_attempts.map_or(-1, i64::from),
            0..=10_000,
        )?,
        max_record_age: unlimited_or(
            vars,
            "STREAM_MAX_RECORD_AGE_SECONDS",
            defaults
                .max_record_age
                .map_or(-1, |age| i64::try_from(age.as_secs()).unwrap_or(i64::MAX)),
            60..=604_800,
        )?
        .map(|seconds| Duration::from_secs(u64::from(seconds))),
        // AWS allows up to 300 s.
        batching_window: millis(
            "STREAM_BATCHING_WINDOW_MS",
            defaults.batching_window,
            0..=300_000,
        )?,
        // Not 0: an idle shard would be read in a busy loop.
        poll_interval: millis("STREAM_POLL_MS", defaults.poll_interval, 10..=60_000)?,
        bisect_on_error: vars.flag("STREAM_BISECT_ON_ERROR", defaults.bisect_on_error)?,
        on_failure_queue: vars.optional("STREAM_ON_FAILURE_QUEUE"),
        retry_delay: millis("STREAM_RETRY_DELAY_MS", defaults.retry_delay, 1..=60_000)?,
        max_retry_delay: millis(
            "STREAM_MAX_RETRY_DELAY_MS",
            defaults.max_retry_delay,
            1..=600_000,
        )?,
        ..defaults
    })
}

/// A number within `range`, or -1 for no limit (`None`), as the mapping's `MaximumRetryAttempts`
/// and `MaximumRecordAgeInSeconds` take them.
fn unlimited_or(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<u32>,
) -> Result<Option<u32>, ConfigError> {
    let raw = vars.optional(name);
    let value = match raw.as_deref().map(str::trim) {
        None => default,
        Some(raw) => raw.parse::<i64>().unwrap_or(i64::MIN),
    };
    if value == -1 {
        return Ok(None);
    }
    u32::try_from(value)
        .ok()
        .filter(|value| range.contains(value))
        .map(Some)
        .ok_or_else(|| {
            ConfigError::invalid(
                name,
                format!(
                    "-1 (no limit) or a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
                raw.as_deref().unwrap_or_default(),
            )
        })
}
