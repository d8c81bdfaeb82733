//! The composition root of the two API functions (create-order and orders-api): their settings,
//! read once from the environment, and every adapter they use, built once per cold start. They
//! call DynamoDB and the Scheduler only: their events come from the orders table's stream
//! (order-stream), so they neither link a Kafka client nor connect to the brokers.

use std::time::Duration;

use chrono::TimeDelta;
use orderflow_domain::ports::ApiWith;
use orderflow_domain::storefront::Storefront;
use orderflow_http::ApiContext;
use orderflow_http::idempotency::Idempotency;
use orderflow_http::identity::IdentityConfig;
use tracing::warn;

use crate::config::{ConfigError, Vars};
use crate::dynamodb::schema::TableNames;
use crate::dynamodb::{DynamoIdempotencyStore, DynamoStore};
use crate::scheduler::{EventBridgeScheduler, SchedulerConfig};
use crate::system::{SystemClock, UuidV7Ids};

/// The API's ports on AWS: DynamoDB, EventBridge Scheduler, the system clock.
pub type AwsApi =
    ApiWith<DynamoStore, DynamoIdempotencyStore, EventBridgeScheduler, SystemClock, UuidV7Ids>;

/// What an API function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    pub tables: TableNames,
    pub scheduler: SchedulerConfig,
    pub payment_timeout: TimeDelta,
    pub idempotency_ttl: TimeDelta,
    pub identity: IdentityConfig,
}

const DAY: u32 = 24 * 60 * 60;

impl ApiSettings {
    /// Reads every setting through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&var);
        // The Scheduler's own limits.
        let max_retry_attempts = vars.number("SCHEDULER_MAX_RETRY_ATTEMPTS", 185, 0..=185)?;
        let max_event_age = vars.number("SCHEDULER_MAX_EVENT_AGE_SECONDS", DAY, 60..=DAY)?;
        // Seconds are enough for a local run to show a timeout; in AWS the Scheduler fires an
        // `at()` schedule within about a minute of its time, so keep real deadlines longer.
        let payment_timeout = vars.number("PAYMENT_TIMEOUT_SECONDS", 30 * 60, 5..=7 * DAY)?;
        // At least a lease (idempotency::LEASE), so that a key outlives the request holding it.
        let idempotency_ttl = vars.number("IDEMPOTENCY_KEY_TTL_SECONDS", DAY, 60..=30 * DAY)?;
        let dev_identity_headers = vars.flag("DEV_IDENTITY_HEADERS", false)?;
        if dev_identity_headers {
            warn!(
                "DEV_IDENTITY_HEADERS is on: requests without a token may name their caller; \
                 never on a deployed function"
            );
        }
        Ok(Self {
            tables: TableNames::with_prefix(vars.required("DYNAMODB_TABLE_PREFIX")?),
            scheduler: SchedulerConfig {
                group_name: vars.or("SCHEDULE_GROUP_NAME", "orderflow-timeouts"),
                target_arn: vars.required("ORDER_TIMEOUT_FUNCTION_ARN")?,
                role_arn: vars.required("SCHEDULER_ROLE_ARN")?,
                dead_letter_arn: vars
                    .optional("SCHEDULER_DLQ_ARN")
                    .filter(|arn| !arn.trim().is_empty()),
                // At most 185 by the range above.
                max_retry_attempts: max_retry_attempts as i32,
                max_event_age: Duration::from_secs(u64::from(max_event_age)),
            },
            payment_timeout: TimeDelta::seconds(i64::from(payment_timeout)),
            idempotency_ttl: TimeDelta::seconds(i64::from(idempotency_ttl)),
            identity: IdentityConfig {
                groups_claim: vars.or("GROUPS_CLAIM", "cognito:groups"),
                admin_group: vars.or("ADMIN_GROUP", "admin"),
                dev_identity_headers,
            },
        })
    }
}

/// An API function's context on AWS, once per cold start: the SDK clients with their timeouts.
pub async fn connect(settings: ApiSettings) -> ApiContext<AwsApi> {
    let aws = crate::load_aws_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let scheduler = aws_sdk_scheduler::Client::new(&aws);
    ApiContext {
        storefront: Storefront {
            store: DynamoStore::new(dynamodb.clone(), &settings.tables),
            scheduler: EventBridgeScheduler::new(scheduler, settings.scheduler),
            clock: SystemClock,
            payment_timeout: settings.payment_timeout,
            catalogue: Default::default(),
        },
        idempotency: Idempotency {
            store: DynamoIdempotencyStore::new(dynamodb, &settings.tables),
            ttl: settings.idempotency_ttl,
        },
        identity: settings.identity,
        ids: UuidV7Ids,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const REQUIRED: [(&str, &str); 3] = [
        ("DYNAMODB_TABLE_PREFIX", "orderflow-dev-"),
        (
            "ORDER_TIMEOUT_FUNCTION_ARN",
            "arn:aws:lambda:eu-west-1:1:function:order-timeout",
        ),
        ("SCHEDULER_ROLE_ARN", "arn:aws:iam::1:role/scheduler"),
    ];

    fn settings(extra: &[(&str, &str)]) -> Result<ApiSettings, ConfigError> {
        let vars: HashMap<String, String> = REQUIRED
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ApiSettings::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_are_thirty_minutes_a_day_and_no_development_identity() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.payment_timeout, TimeDelta::minutes(30));
        assert_eq!(settings.idempotency_ttl, TimeDelta::hours(24));
        assert_eq!(settings.tables.name("orders"), "orderflow-dev-orders");
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
            let err = ApiSettings::from_vars(|n| vars.get(n).map(|v| v.to_string())).unwrap_err();
            assert_eq!(err.variable(), name, "{err}");
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
            assert_eq!(err.variable(), name, "{name}={bad}: {err}");
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
