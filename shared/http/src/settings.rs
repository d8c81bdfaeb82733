//! The settings both API functions take from their environment. Each function's `config.rs` passes
//! its variables in through `var`, so that it stays the one place that reads them; every error
//! names the variable.

use std::time::Duration;

use chrono::TimeDelta;
use orderflow_core::adapters::kafka::KafkaConfig;
use orderflow_core::adapters::scheduler::SchedulerConfig;
use orderflow_core::schema::TableNames;

use tracing::warn;

use crate::identity::IdentityConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    pub tables: TableNames,
    pub kafka: KafkaConfig,
    pub topic: String,
    pub scheduler: SchedulerConfig,
    pub payment_timeout: TimeDelta,
    pub idempotency_ttl: TimeDelta,
    pub identity: IdentityConfig,
}

const DAY: u32 = 24 * 60 * 60;

impl ApiSettings {
    /// Reads every setting through `var`; `client_id` names the function to the Kafka brokers.
    pub fn from_vars(
        client_id: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let required = |name: &str| {
            var(name)
                .filter(|value| !value.trim().is_empty())
                .ok_or_else(|| format!("{name} is not set"))
        };
        let or = |name: &str, default: &str| var(name).unwrap_or_else(|| default.to_owned());
        // The Scheduler's own limits.
        let max_retry_attempts = number(&var, "SCHEDULER_MAX_RETRY_ATTEMPTS", 185, 0..=185)?;
        let max_event_age = number(&var, "SCHEDULER_MAX_EVENT_AGE_SECONDS", DAY, 60..=DAY)?;
        // Seconds are enough for a local run to show a timeout; in AWS the Scheduler fires an
        // `at()` schedule within about a minute of its time, so keep real deadlines longer.
        let payment_timeout = number(&var, "PAYMENT_TIMEOUT_SECONDS", 30 * 60, 5..=7 * DAY)?;
        // At least a lease (idempotency::LEASE), so that a key outlives the request holding it.
        let idempotency_ttl = number(&var, "IDEMPOTENCY_KEY_TTL_SECONDS", DAY, 60..=30 * DAY)?;
        let dev_identity_headers = match var("DEV_IDENTITY_HEADERS").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(format!(
                    "DEV_IDENTITY_HEADERS must be true or false, not {other:?}"
                ));
            }
        };
        if dev_identity_headers {
            warn!(
                "DEV_IDENTITY_HEADERS is on: requests without a token may name their caller; \
                 never on a deployed function"
            );
        }
        Ok(Self {
            tables: TableNames::with_prefix(required("DYNAMODB_TABLE_PREFIX")?),
            kafka: KafkaConfig::from_vars(client_id, &var)?,
            topic: or("ORDER_EVENTS_TOPIC", "order-events"),
            scheduler: SchedulerConfig {
                group_name: or("SCHEDULE_GROUP_NAME", "orderflow-timeouts"),
                target_arn: required("ORDER_TIMEOUT_FUNCTION_ARN")?,
                role_arn: required("SCHEDULER_ROLE_ARN")?,
                dead_letter_arn: var("SCHEDULER_DLQ_ARN").filter(|arn| !arn.trim().is_empty()),
                max_retry_attempts: i32::try_from(max_retry_attempts)
                    .map_err(|_| "SCHEDULER_MAX_RETRY_ATTEMPTS is out of range".to_owned())?,
                max_event_age: Duration::from_secs(u64::from(max_event_age)),
            },
            payment_timeout: TimeDelta::seconds(i64::from(payment_timeout)),
            idempotency_ttl: TimeDelta::seconds(i64::from(idempotency_ttl)),
            identity: IdentityConfig {
                groups_claim: or("GROUPS_CLAIM", "cognito:groups"),
                admin_group: or("ADMIN_GROUP", "admin"),
                dev_identity_headers,
            },
        })
    }
}

/// A whole number from `var(name)` within `range`, or `default` when unset.
fn number(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, String> {
    let Some(raw) = var(name) else {
        return Ok(default);
    };
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|value| range.contains(value))
        .ok_or_else(|| {
            format!(
                "{name} must be a whole number from {} to {}, not {raw:?}",
                range.start(),
                range.end()
            )
        })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const REQUIRED: [(&str, &str); 4] = [
        ("DYNAMODB_TABLE_PREFIX", "orderflow-dev-"),
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        (
            "ORDER_TIMEOUT_FUNCTION_ARN",
            "arn:aws:lambda:eu-west-1:1:function:order-timeout",
        ),
        ("SCHEDULER_ROLE_ARN", "arn:aws:iam::1:role/scheduler"),
    ];

    fn settings(extra: &[(&str, &str)]) -> Result<ApiSettings, String> {
        let vars: HashMap<String, String> = REQUIRED
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ApiSettings::from_vars("test", |name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_are_thirty_minutes_a_day_and_no_development_identity() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.payment_timeout, TimeDelta::minutes(30));
        assert_eq!(settings.idempotency_ttl, TimeDelta::hours(24));
        assert_eq!(settings.tables.name("orders"), "orderflow-dev-orders");
        assert_eq!(settings.topic, "order-events");
        assert_eq!(settings.scheduler.group_name, "orderflow-timeouts");
        assert_eq!(settings.scheduler.max_retry_attempts, 185);
        assert_eq!(
            settings.scheduler.max_event_age,
            Duration::from_secs(u64::from(DAY))
        );
        assert_eq!(settings.scheduler.dead_letter_arn, None);
        assert_eq!(settings.identity, IdentityConfig::default());
    }

    #[test]
    fn every_missing_or_invalid_variable_is_named() {
        for (name, _) in REQUIRED {
            let vars: HashMap<&str, &str> = REQUIRED
                .iter()
                .copied()
                .filter(|(n, _)| *n != name)
                .collect();
            let err =
                ApiSettings::from_vars("test", |n| vars.get(n).map(|v| v.to_string())).unwrap_err();
            assert!(err.starts_with(name), "{err}");
        }
        for (name, bad) in [
            ("PAYMENT_TIMEOUT_SECONDS", "4"),
            ("PAYMENT_TIMEOUT_SECONDS", "half an hour"),
            ("IDEMPOTENCY_KEY_TTL_SECONDS", "-1"),
            ("SCHEDULER_MAX_RETRY_ATTEMPTS", "186"),
            ("SCHEDULER_MAX_EVENT_AGE_SECONDS", "86401"),
            ("DEV_IDENTITY_HEADERS", "yes"),
        ] {
            let err = settings(&[(name, bad)]).unwrap_err();
            assert!(err.starts_with(name), "{name}={bad}: {err}");
        }
    }

    #[test]
    fn settings_are_read_as_given() {
        let settings = settings(&[
            ("PAYMENT_TIMEOUT_SECONDS", "120"),
            ("IDEMPOTENCY_KEY_TTL_SECONDS", "3600"),
            ("SCHEDULER_DLQ_ARN", "arn:aws:sqs:eu-west-1:1:timeouts-dlq"),
            ("SCHEDULER_MAX_RETRY_ATTEMPTS", "3"),
            ("DEV_IDENTITY_HEADERS", "true"),
            ("ADMIN_GROUP", "stock-admins"),
        ])
        .unwrap();
        assert_eq!(settings.payment_timeout, TimeDelta::minutes(2));
        assert_eq!(settings.idempotency_ttl, TimeDelta::hours(1));
        assert_eq!(
            settings.scheduler.dead_letter_arn.as_deref(),
            Some("arn:aws:sqs:eu-west-1:1:timeouts-dlq")
        );
        assert_eq!(settings.scheduler.max_retry_attempts, 3);
        assert!(settings.identity.dev_identity_headers);
        assert_eq!(settings.identity.admin_group, "stock-admins");
    }
}
