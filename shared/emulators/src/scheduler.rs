//! EventBridge Scheduler, locally: moto stores schedules but never fires them. This polls a
//! schedule group through the Scheduler API and, when a one-time `at()` schedule is due, invokes
//! its target function with the schedule's `Input` as the event (as the Scheduler does: no
//! envelope). A failed invocation is retried with backoff within the target's retry policy
//! (attempts and maximum event age); after that the input goes to the target's SQS dead-letter
//! queue, if it has one. With `ActionAfterCompletion=DELETE` the schedule is deleted after it ran.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_scheduler::types::ActionAfterCompletion;
use chrono::{DateTime, NaiveDateTime, Utc};
use tracing::{error, info, warn};

use crate::lambda::{LocalLambda, function_name};

#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    pub group: String,
    pub poll_interval: Duration,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A schedule's delivery state between polls.
#[derive(Debug, Default)]
struct Delivery {
    attempts: i32,
    next_attempt: Option<DateTime<Utc>>,
    /// Ran (or dead-lettered), but kept because its ActionAfterCompletion is NONE.
    finished: bool,
}

/// Parses `at(yyyy-mm-ddThh:mm:ss)`, in UTC.
pub fn parse_at(expression: &str) -> Option<DateTime<Utc>> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|at| at.and_utc())
}

/// Runs the scheduler until the task is dropped.
pub async fn run(
    settings: SchedulerSettings,
    scheduler: aws_sdk_scheduler::Client,
    sqs: aws_sdk_sqs::Client,
    lambda: LocalLambda,
) -> Result<(), BoxError> {
    info!(group = %settings.group, "EventBridge Scheduler emulator started");
    let mut deliveries: HashMap<String, Delivery> = HashMap::new();
    loop {
        if let Err(err) = poll(&settings, &scheduler, &sqs, &lambda, &mut deliveries).await {
            warn!(error = %err, "polling schedules failed; trying again");
        }
        tokio::time::sleep(settings.poll_interval).await;
    }
}

async fn poll(
    settings: &SchedulerSettings,
    scheduler: &aws_sdk_scheduler::Client,
    sqs: &aws_sdk_sqs::Client,
    lambda: &LocalLambda,
    deliveries: &mut HashMap<String, Delivery>,
) -> Result<(), BoxError> {
    let mut names = Vec::new();
    let mut pages = scheduler
        .list_schedules()
        .group_name(&settings.group)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        names.extend(
            page?
                .schedules()
                .iter()
                .filter_map(|s| s.name().map(str::to_owned)),
        );
    }
    deliveries.retain(|name, _| names.contains(name));
    let now = Utc::now();
    for name in names {
        let delivery = deliveries.entry(name.clone()).or_default();
        if delivery.finished || delivery.next_attempt.is_some_and(|at| at > now) {
            continue;
        }
        let schedule = scheduler
            .get_schedule()
            .group_name(&settings.group)
            .name(&name)
            .send()
            .await?;
        let Some(due) = schedule.schedule_expression().and_then(parse_at) else {
            continue; // rate() and cron() schedules are not emulated.
        };
        if due > now {
            continue;
        }
        let Some(target) = schedule.target() else {
            continue;
        };
        let input: serde_json::Value = target
            .input()
            .and_then(|i| serde_json::from_str(i).ok())
            .unwrap_or_default();
        let function = function_name(target.arn());
        delivery.attempts += 1;
        let outcome = lambda.invoke(function, &input).await;
        let delete = schedule.action_after_completion() == Some(&ActionAfterCompletion::Delete);
        match outcome {
            Ok(_) => {
                info!(schedule = %name, function, late_ms = (now - due).num_milliseconds(), "schedule fired")
            }
            Err(err) => {
                let policy = target.retry_policy();
                let max_attempts = policy
                    .and_then(|p| p.maximum_retry_attempts())
                    .unwrap_or(185)
                    + 1;
                let max_age = policy
                    .and_then(|p| p.maximum_event_age_in_seconds())
                    .unwrap_or(86_400);
                let expired = (now - due).num_seconds() >= i64::from(max_age);
                if delivery.attempts < max_attempts && !expired {
                    let wait =
                        Duration::from_secs(2u64.pow(delivery.attempts.clamp(1, 6) as u32 - 1));
                    warn!(schedule = %name, function, attempt = delivery.attempts, error = %err, "target failed; retrying");
                    delivery.next_attempt = Some(now + wait);
                    continue;
                }
                error!(schedule = %name, function, attempts = delivery.attempts, error = %err, "target failed for good");
                if let Some(queue_arn) = target.dead_letter_config().and_then(|d| d.arn()) {
                    dead_letter(
                        sqs,
                        queue_arn,
                        target.input().unwrap_or_default(),
                        &err.to_string(),
                    )
                    .await?;
                }
            }
        }
        if delete {
            scheduler
                .delete_schedule()
                .group_name(&settings.group)
                .name(&name)
                .send()
                .await?;
            deliveries.remove(&name);
        } else {
            delivery.finished = true;
        }
    }
    Ok(())
}

/// Sends the input of a schedule whose target kept failing to its SQS dead-letter queue.
async fn dead_letter(
    sqs: &aws_sdk_sqs::Client,
    queue_arn: &str,
    input: &str,
    reason: &str,
) -> Result<(), BoxError> {
    let queue_name = queue_arn.rsplit(':').next().unwrap_or(queue_arn);
    let url = sqs.get_queue_url().queue_name(queue_name).send().await?;
    let attribute = aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(reason)
        .build()?;
    sqs.send_message()
        .queue_url(url.queue_url().unwrap_or_default())
        .message_body(input)
        .message_attributes("ERROR_MESSAGE", attribute)
        .send()
        .await?;
    warn!(
        queue = queue_name,
        "schedule input sent to the dead-letter queue"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_expressions_parse_in_utc() {
        let at = parse_at("at(2026-11-25T20:34:06)").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-25T20:34:06+00:00");
        assert_eq!(parse_at("rate(5 minutes)"), None);
        assert_eq!(parse_at("at(tomorrow)"), None);
    }
}
