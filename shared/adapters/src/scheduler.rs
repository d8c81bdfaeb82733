//! Payment timeouts as one-time EventBridge Scheduler schedules.

use std::time::Duration;

use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use chrono::{DurationRound, TimeDelta};
use orderflow_types::{OrderId, PaymentTimeout, Timestamp};
use tracing::{debug, info, instrument};

use crate::{build_error, sdk_error};
use orderflow_domain::error::{Dependency, Error, Result};
use orderflow_domain::ports::TimeoutScheduler;

const SCHEDULER: Dependency = Dependency::Scheduler;

/// Where schedules go and what they invoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// The schedule group; its name scopes create-order's IAM permissions.
    pub group_name: String,
    /// The order-timeout function's ARN.
    pub target_arn: String,
    /// The role the Scheduler assumes to invoke the target.
    pub role_arn: String,
    /// An SQS queue for invocations that failed every retry.
    pub dead_letter_arn: Option<String>,
    /// 0 to 185.
    pub max_retry_attempts: i32,
    /// 60 s to 24 h.
    pub max_event_age: Duration,
}

/// The schedule that fires an order's payment timeout: at most 64 characters, as the Scheduler
/// requires, since order ids are at most 48.
pub fn schedule_name(order: &OrderId) -> String {
    format!("order-timeout-{order}")
}

/// The Scheduler's one-time expression, in UTC, rounded up to the second. The Scheduler still
/// runs it anywhere within its minute, possibly before the deadline: order-timeout, not the
/// schedule, keeps the deadline (see `timeouts.rs`).
pub fn at_expression(due_at: Timestamp) -> String {
    let second = TimeDelta::seconds(1);
    let rounded = due_at
        .duration_trunc(second)
        .map(|truncated| {
            if truncated < due_at {
                truncated + second
            } else {
                truncated
            }
        })
        .unwrap_or(due_at);
    format!("at({})", rounded.format("%Y-%m-%dT%H:%M:%S"))
}

#[derive(Debug, Clone)]
pub struct EventBridgeScheduler {
    client: Client,
    config: SchedulerConfig,
}

impl EventBridgeScheduler {
    pub fn new(client: Client, config: SchedulerConfig) -> Self {
        Self { client, config }
    }

    fn target(&self, input: String) -> Result<Target> {
        const ACTION: &str = "build a schedule target";
        let retry = RetryPolicy::builder()
            .maximum_retry_attempts(self.config.max_retry_attempts)
            .maximum_event_age_in_seconds(
                i32::try_from(self.config.max_event_age.as_secs()).unwrap_or(i32::MAX),
            )
            .build();
        let dead_letter = self
            .config
            .dead_letter_arn
            .as_ref()
            .map(|arn| DeadLetterConfig::builder().arn(arn).build());
        Target::builder()
            .arn(&self.config.target_arn)
            .role_arn(&self.config.role_arn)
            .input(input)
            .retry_policy(retry)
            .set_dead_letter_config(dead_letter)
            .build()
            .map_err(|err| build_error(SCHEDULER, ACTION, err))
    }
}

impl TimeoutScheduler for EventBridgeScheduler {
    #[instrument(skip_all, fields(order_id = %timeout.order_id))]
    async fn schedule(&self, timeout: &PaymentTimeout) -> Result<()> {
        const ACTION: &str = "create a payment timeout schedule";
        let input = serde_json::to_string(timeout).map_err(|err| Error::Rejected {
            dependency: SCHEDULER,
            action: ACTION,
            source: Box::new(err),
        })?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|err| build_error(SCHEDULER, ACTION, err))?;
        let created = self
            .client
            .create_schedule()
            .name(schedule_name(&timeout.order_id))
            .group_name(&self.config.group_name)
            .schedule_expression(at_expression(timeout.payment_due_at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(self.target(input)?)
            .send()
            .await;
        match created {
            Ok(_) => {
                info!(due_at = %timeout.payment_due_at, "payment timeout scheduled");
                Ok(())
            }
            // A retry of an earlier, successful attempt: the schedule is what we want.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conflict_exception()) =>
            {
                debug!("payment timeout was scheduled before");
                Ok(())
            }
            Err(err) => Err(sdk_error(SCHEDULER, ACTION, err)),
        }
    }

    #[instrument(skip_all, fields(order_id = %order))]
    async fn cancel(&self, order: &OrderId) -> Result<()> {
        let deleted = self
            .client
            .delete_schedule()
            .name(schedule_name(order))
            .group_name(&self.config.group_name)
            .send()
            .await;
        match deleted {
            Ok(_) => {
                info!("payment timeout removed");
                Ok(())
            }
            // Deleted before, or fired and deleted itself (ActionAfterCompletion=DELETE).
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                debug!("payment timeout was gone already");
                Ok(())
            }
            Err(err) => Err(sdk_error(
                SCHEDULER,
                "delete a payment timeout schedule",
                err,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_types::time;

    #[test]
    fn at_expression_rounds_up_to_the_second() {
        let due = time::parse("2026-11-25T20:34:05.123Z").unwrap();
        assert_eq!(at_expression(due), "at(2026-11-25T20:34:06)");
        let whole = time::parse("2026-11-25T20:34:05Z").unwrap();
        assert_eq!(at_expression(whole), "at(2026-11-25T20:34:05)");
    }

    #[test]
    fn schedule_names_fit_the_scheduler_limit() {
        let longest = OrderId::parse("x".repeat(48)).unwrap();
        assert!(schedule_name(&longest).len() <= 64);
    }
}
