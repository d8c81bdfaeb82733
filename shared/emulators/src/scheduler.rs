//! EventBridge Scheduler, locally: moto stores schedules but never fires them. This polls a
//! schedule group through the Scheduler API and fires each one-time `at()` schedule the way the
//! Scheduler does:
//!
//! - **When.** The Scheduler runs a schedule with one minute of precision: one at 20:34:05 runs
//!   anywhere from 20:34:00 to 20:34:59, so possibly before its time. [`FireTime`] chooses where
//!   in that minute (on time by default; early, late, or spread over the minute like AWS), and a
//!   `FLEXIBLE` time window delays it by up to its `MaximumWindowInMinutes`. The expression is
//!   read in its `ScheduleExpressionTimezone` (UTC and fixed `Etc/GMT±h` zones; a schedule in
//!   another zone is reported and not fired, since no time zone database is linked in).
//!   `State=DISABLED` schedules never fire.
//! - **How.** The Scheduler invokes Lambda asynchronously: its retry policy and dead-letter queue
//!   cover only handing the event over, and the function's own errors get Lambda's asynchronous
//!   retries and its on-failure destination. Here, handing over is the call to the local Lambda
//!   endpoint; if that endpoint cannot be reached the schedule is retried with backoff within its
//!   `RetryPolicy` and then its input goes to its `DeadLetterConfig` queue. A function error is
//!   retried as Lambda retries asynchronous invocations ([`AsyncInvokeSettings`]), and then an
//!   invocation record, shaped as Lambda's, goes to the on-failure queue if one is set.
//! - **After.** With `ActionAfterCompletion=DELETE` the schedule is deleted once the event was
//!   handed over. A schedule deleted meanwhile (an order paid while its timeout ran) is not an
//!   error, and a schedule that fails to read is reported and skipped: one schedule never stops
//!   the others. Each delivery runs in its own task, at most `max_concurrent` invocations at
//!   once, so one slow target does not hold up the rest.
//!
//! Unlike Lambda, the local endpoint answers only when the function has run, so a schedule is
//! deleted after the first invocation returns rather than when it is queued.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode, ScheduleState};
use chrono::{DateTime, DurationRound, NaiveDateTime, TimeDelta, Utc};
use orderflow_adapters::config::ConfigError;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use crate::lambda::{Invoke, InvokeError, function_name};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where within its minute of precision a schedule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FireTime {
    /// At its time, shifted by this many seconds (-59 to 59): negative fires early, as the
    /// Scheduler may for a time with seconds.
    Offset(i64),
    /// Anywhere within the schedule's minute, as the Scheduler does: from the minute's start
    /// (possibly before the time) to its last second. The second is derived from the schedule's
    /// name, so a run is reproducible.
    WithinMinute,
}

impl FireTime {
    /// Parses `SCHEDULER_FIRE_OFFSET`: a whole number of seconds from -59 to 59, or `minute`.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        if value == "minute" {
            return Ok(Self::WithinMinute);
        }
        value
            .trim_start_matches('+')
            .parse::<i64>()
            .ok()
            .filter(|seconds| (-59..=59).contains(seconds))
            .map(Self::Offset)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "SCHEDULER_FIRE_OFFSET",
                    "seconds from -59 to 59 or `minute`",
                    value,
                )
            })
    }

    /// When a schedule named `name` that is due at `due` fires.
    pub fn fire_at(self, name: &str, due: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Offset(seconds) => due + TimeDelta::seconds(seconds),
            Self::WithinMinute => {
                let minute = due.duration_trunc(TimeDelta::minutes(1)).unwrap_or(due);
                minute + TimeDelta::seconds(spread(name, 60))
            }
        }
    }
}

/// A number from 0 to `range - 1` derived from `name`: the same for every run.
fn spread(name: &str, range: i64) -> i64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut hasher);
    (hasher.finish() % range.max(1).unsigned_abs()) as i64
}

/// Lambda's handling of asynchronous invocations that fail: retries, then the on-failure
/// destination (`aws_lambda_function_event_invoke_config` in `infra/`).
#[derive(Debug, Clone)]
pub struct AsyncInvokeSettings {
    /// Retries after the first failed invocation, 0 to 2.
    pub max_retry_attempts: u32,
    /// The wait before the first retry; each further retry waits twice as long (Lambda: 1 min).
    pub retry_delay: Duration,
    /// No retry starts after the event is this old.
    pub max_event_age: Duration,
    /// An SQS queue ARN for the record of an event that failed every attempt.
    pub on_failure_queue_arn: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    pub group: String,
    pub poll_interval: Duration,
    pub fire: FireTime,
    /// Invocations running at once; the rest wait for a free slot.
    pub max_concurrent: usize,
    pub async_invoke: AsyncInvokeSettings,
}

/// Parses `at(yyyy-mm-ddThh:mm:ss)` as a local time in `timezone`; `None` (with the reason) for
/// other expressions and zones.
pub fn parse_at(expression: &str, timezone: Option<&str>) -> Result<DateTime<Utc>, String> {
    let inner = expression
        .strip_prefix("at(")
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| format!("{expression:?} is not a one-time at() expression"))?;
    let local = NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S")
        .map_err(|err| format!("{expression:?}: {err}"))?;
    Ok(local.and_utc() - utc_offset(timezone.unwrap_or("UTC"))?)
}

/// The offset from UTC of the zones a time zone database is not needed for.
fn utc_offset(zone: &str) -> Result<TimeDelta, String> {
    if matches!(
        zone,
        "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Etc/UCT" | "UCT"
    ) {
        return Ok(TimeDelta::zero());
    }
    // POSIX style: Etc/GMT+5 is five hours *behind* UTC.
    zone.strip_prefix("Etc/GMT")
        .and_then(|hours| hours.parse::<i64>().ok())
        .filter(|hours| (-14..=12).contains(hours))
        .map(|hours| TimeDelta::hours(-hours))
        .ok_or_else(|| format!("time zone {zone:?} is not emulated (only UTC and Etc/GMT±h)"))
}

/// What happened to a schedule, between polls.
#[derive(Debug, Default)]
struct Delivery {
    /// Attempts to hand the event over.
    attempts: i32,
    next_attempt: Option<DateTime<Utc>>,
    running: bool,
    /// Ran, was dead-lettered or cannot run, but is kept (ActionAfterCompletion NONE, or an
    /// expression that is not emulated): nothing more happens to it.
    finished: bool,
}

/// What a delivery task reports back.
enum Handed {
    /// The event was handed over (or dead-lettered) and the schedule completed.
    Done,
    /// Handing over failed; try again then.
    RetryAt(DateTime<Utc>),
}

/// A due schedule, as read.
struct Job {
    name: String,
    due: DateTime<Utc>,
    attempt: i32,
    target_arn: String,
    input: String,
    max_attempts: i32,
    max_age_seconds: i32,
    dead_letter_arn: Option<String>,
    delete: bool,
}

struct Shared<I> {
    settings: SchedulerSettings,
    scheduler: aws_sdk_scheduler::Client,
    sqs: aws_sdk_sqs::Client,
    lambda: I,
    slots: Semaphore,
    /// Lambda's retries of failed invocations, which outlive their schedules.
    retries: Mutex<JoinSet<()>>,
}

/// The emulator: [`Scheduler::run`] polls until dropped; tests drive [`Scheduler::poll`].
pub struct Scheduler<I> {
    shared: Arc<Shared<I>>,
    deliveries: HashMap<String, Delivery>,
    running: JoinSet<(String, Handed)>,
}

impl<I: Invoke> Scheduler<I> {
    pub fn new(
        settings: SchedulerSettings,
        scheduler: aws_sdk_scheduler::Client,
        sqs: aws_sdk_sqs::Client,
        lambda: I,
    ) -> Self {
        let slots = Semaphore::new(settings.max_concurrent.max(1));
        Self {
            shared: Arc::new(Shared {
                settings,
                scheduler,
                sqs,
                lambda,
                slots,
                retries: Mutex::new(JoinSet::new()),
            }),
            deliveries: HashMap::new(),
            running: JoinSet::new(),
        }
    }

    /// Polls every `poll_interval` until the task is dropped.
    pub async fn run(mut self) -> Result<(), BoxError> {
        info!(group = %self.shared.settings.group, fire = ?self.shared.settings.fire, "EventBridge Scheduler emulator started");
        loop {
            if let Err(err) = self.poll().await {
                warn!(error = %err, "listing schedules failed; trying again");
            }
            tokio::time::sleep(self.shared.settings.poll_interval).await;
        }
    }

    /// One pass: collects finished deliveries, lists the group and starts a delivery for every
    /// schedule whose time has come. Returns how many it started. Fails only if the group
    /// cannot be listed.
    pub async fn poll(&mut self) -> Result<usize, BoxError> {
        let names = self.list().await?;
        Ok(self.poll_listed(names).await)
    }

    /// What [`Scheduler::poll`] does once it has listed the group's schedules as `names`. A
    /// schedule deleted since it was listed is skipped.
    pub async fn poll_listed(&mut self, names: Vec<String>) -> usize {
        while let Some(finished) = self.running.try_join_next() {
            self.record(finished);
        }
        self.deliveries
            .retain(|name, delivery| delivery.running || names.contains(name));
        let now = Utc::now();
        let mut started = 0;
        for name in names {
            let delivery = self.deliveries.entry(name.clone()).or_default();
            if delivery.running
                || delivery.finished
                || delivery.next_attempt.is_some_and(|at| at > now)
            {
                continue;
            }
            match read(&self.shared, &name, now).await {
                Ok(Some(mut job)) => {
                    delivery.attempts += 1;
                    delivery.running = true;
                    job.attempt = delivery.attempts;
                    self.running.spawn(hand_over(Arc::clone(&self.shared), job));
                    started += 1;
                }
                Ok(None) => {}
                Err(Unready::Finished(reason)) => {
                    error!(schedule = %name, %reason, "schedule not emulated; it will not fire");
                    delivery.finished = true;
                }
                Err(Unready::Failed(err)) => {
                    warn!(schedule = %name, error = %err, "reading the schedule failed; the next poll tries again");
                }
            }
        }
        started
    }

    /// Waits for every delivery started so far, and every retry of a failed invocation, to end.
    pub async fn settle(&mut self) {
        while let Some(finished) = self.running.join_next().await {
            self.record(finished);
        }
        loop {
            let mut retries = std::mem::take(&mut *lock(&self.shared.retries));
            if retries.is_empty() {
                break;
            }
            while let Some(ended) = retries.join_next().await {
                if let Err(err) = ended {
                    error!(error = %err, "an invocation retry panicked");
                }
            }
        }
    }

    fn record(&mut self, finished: Result<(String, Handed), tokio::task::JoinError>) {
        let (name, handed) = match finished {
            Ok(done) => done,
            Err(err) => {
                error!(error = %err, "a schedule delivery panicked");
                return;
            }
        };
        let Some(delivery) = self.deliveries.get_mut(&name) else {
            return;
        };
        delivery.running = false;
        match handed {
            Handed::Done => delivery.finished = true,
            Handed::RetryAt(at) => delivery.next_attempt = Some(at),
        }
    }

    async fn list(&self) -> Result<Vec<String>, BoxError> {
        let mut names = Vec::new();
        let mut pages = self
            .shared
            .scheduler
            .list_schedules()
            .group_name(&self.shared.settings.group)
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
        Ok(names)
    }
}

/// Why a listed schedule does not run now.
enum Unready {
    /// It never will (not a one-time schedule, a zone not emulated, no target).
    Finished(String),
    /// Reading it failed; the next poll tries again.
    Failed(BoxError),
}

/// The schedule `name` if it is due at `now`; `None` if it is not yet due, disabled or gone.
async fn read<I>(
    shared: &Shared<I>,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<Job>, Unready> {
    let read = shared
        .scheduler
        .get_schedule()
        .group_name(&shared.settings.group)
        .name(name)
        .send()
        .await;
    let schedule = match read {
        Ok(schedule) => schedule,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            debug!(schedule = %name, "deleted since it was listed");
            return Ok(None);
        }
        Err(err) => return Err(Unready::Failed(err.into())),
    };
    if schedule.state() == Some(&ScheduleState::Disabled) {
        return Ok(None);
    }
    let due = parse_at(
        schedule.schedule_expression().unwrap_or_default(),
        schedule.schedule_expression_timezone(),
    )
    .map_err(Unready::Finished)?;
    let mut fire_at = shared.settings.fire.fire_at(name, due);
    if let Some(window) = schedule.flexible_time_window()
        && window.mode() == &FlexibleTimeWindowMode::Flexible
    {
        let minutes = i64::from(window.maximum_window_in_minutes().unwrap_or(1));
        fire_at += TimeDelta::seconds(spread(&format!("{name}/window"), minutes * 60));
    }
    if fire_at > now {
        return Ok(None);
    }
    let target = schedule
        .target()
        .ok_or_else(|| Unready::Finished("it has no target".into()))?;
    let policy = target.retry_policy();
    Ok(Some(Job {
        name: name.to_owned(),
        due,
        attempt: 0,
        target_arn: target.arn().to_owned(),
        input: target.input().unwrap_or_default().to_owned(),
        max_attempts: policy
            .and_then(|p| p.maximum_retry_attempts())
            .unwrap_or(185)
            + 1,
        max_age_seconds: policy
            .and_then(|p| p.maximum_event_age_in_seconds())
            .unwrap_or(86_400),
        dead_letter_arn: target
            .dead_letter_config()
            .and_then(|d| d.arn())
            .map(str::to_owned),
        delete: schedule.action_after_completion() == Some(&ActionAfterCompletion::Delete),
    }))
}

/// Hands a due schedule's event to its target, then completes the schedule. A function error
/// continues as Lambda's asynchronous retries, in a task of their own.
async fn hand_over<I: Invoke>(shared: Arc<Shared<I>>, job: Job) -> (String, Handed) {
    let payload: Value =
        serde_json::from_str(&job.input).unwrap_or_else(|_| Value::String(job.input.clone()));
    let function = function_name(&job.target_arn).to_owned();
    let fired_at = Utc::now();
    let outcome = invoke(&shared, &function, &payload).await;
    let name = job.name.clone();
    match outcome {
        Err(err) if !err.is_function_error() => {
            // Not handed over: the Scheduler's own retry policy and dead-letter queue apply.
            let expired = (fired_at - job.due).num_seconds() >= i64::from(job.max_age_seconds);
            if job.attempt < job.max_attempts && !expired {
                let wait = TimeDelta::seconds(1 << (job.attempt.clamp(1, 6) - 1));
                warn!(schedule = %name, %function, attempt = job.attempt, error = %err, "target unreachable; retrying");
                return (name, Handed::RetryAt(fired_at + wait));
            }
            error!(schedule = %name, %function, attempts = job.attempt, error = %err, "target unreachable for good");
            if let Some(queue_arn) = &job.dead_letter_arn
                && let Err(err) =
                    send(&shared.sqs, queue_arn, &job.input, Some(&err.to_string())).await
            {
                error!(schedule = %name, error = %err, "dead-lettering the schedule's input failed");
            }
        }
        outcome => {
            info!(schedule = %name, %function, early_ms = (job.due - fired_at).num_milliseconds(), "schedule fired");
            if let Err(err) = outcome {
                let retry = retry_failed_invocation(
                    Arc::clone(&shared),
                    job.target_arn.clone(),
                    payload,
                    fired_at,
                    err,
                );
                lock(&shared.retries).spawn(retry);
            }
        }
    }
    if job.delete {
        let deleted = shared
            .scheduler
            .delete_schedule()
            .group_name(&shared.settings.group)
            .name(&name)
            .send()
            .await;
        match deleted {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                debug!(schedule = %name, "already deleted");
            }
            // The next poll finds it again; it is marked done so that it does not fire twice.
            Err(err) => {
                warn!(schedule = %name, error = %err, "deleting the completed schedule failed")
            }
        }
    }
    (name, Handed::Done)
}

async fn invoke<I: Invoke>(
    shared: &Shared<I>,
    function: &str,
    payload: &Value,
) -> Result<Value, InvokeError> {
    // The semaphore is never closed, so acquiring only waits.
    let _slot = shared.slots.acquire().await;
    shared.lambda.invoke(function, payload).await
}

/// Lambda's retries of an asynchronous invocation that failed, then its on-failure destination.
async fn retry_failed_invocation<I: Invoke>(
    shared: Arc<Shared<I>>,
    function_arn: String,
    payload: Value,
    first_attempt: DateTime<Utc>,
    first_error: InvokeError,
) {
    let settings = &shared.settings.async_invoke;
    let function = function_name(&function_arn).to_owned();
    let mut error = first_error;
    let mut invocations = 1u32;
    let mut delay = settings.retry_delay;
    while invocations <= settings.max_retry_attempts {
        let age = (Utc::now() - first_attempt).to_std().unwrap_or_default();
        if age + delay > settings.max_event_age {
            break;
        }
        warn!(%function, attempt = invocations, retry_in_ms = delay.as_millis() as u64, error = %error, "function failed; Lambda retries the event");
        tokio::time::sleep(delay).await;
        delay *= 2;
        invocations += 1;
        match invoke(&shared, &function, &payload).await {
            Ok(_) => {
                info!(%function, attempts = invocations, "retried invocation succeeded");
                return;
            }
            Err(err) => error = err,
        }
    }
    error!(%function, attempts = invocations, error = %error, "function failed every attempt");
    let Some(queue_arn) = &settings.on_failure_queue_arn else {
        return;
    };
    let record = invocation_record(&function_arn, &payload, invocations, &error, Utc::now());
    if let Err(err) = send(&shared.sqs, queue_arn, &record.to_string(), None).await {
        error!(%function, error = %err, "sending the invocation record to the on-failure queue failed");
    }
}

/// The record Lambda sends to an on-failure destination after an asynchronous invocation failed
/// every attempt ("Capturing records of Lambda asynchronous invocations").
pub fn invocation_record(
    function_arn: &str,
    payload: &Value,
    invocations: u32,
    error: &InvokeError,
    at: DateTime<Utc>,
) -> Value {
    let response: Value = match error {
        InvokeError::Function { body, .. } => {
            serde_json::from_str(body).unwrap_or_else(|_| json!({ "errorMessage": body }))
        }
        other => json!({ "errorMessage": other.to_string() }),
    };
    json!({
        "version": "1.0",
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "requestContext": {
            "requestId": uuid_like(function_arn, at),
            "functionArn": format!("{function_arn}:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": invocations,
        },
        "requestPayload": payload,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": response,
    })
}

/// A request id for a record: unique enough locally, and needs no random source.
fn uuid_like(function_arn: &str, at: DateTime<Utc>) -> String {
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        spread(function_arn, 1 << 32),
        at.timestamp_micros().rem_euclid(1 << 48)
    )
}

/// Sends `body` to the SQS queue named by `queue_arn`.
async fn send(
    sqs: &aws_sdk_sqs::Client,
    queue_arn: &str,
    body: &str,
    error_message: Option<&str>,
) -> Result<(), BoxError> {
    let queue_name = queue_arn.rsplit(':').next().unwrap_or(queue_arn);
    let url = sqs.get_queue_url().queue_name(queue_name).send().await?;
    let mut message = sqs
        .send_message()
        .queue_url(url.queue_url().unwrap_or_default())
        .message_body(body);
    if let Some(reason) = error_message {
        let attribute = aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()?;
        message = message.message_attributes("ERROR_MESSAGE", attribute);
    }
    message.send().await?;
    warn!(queue = queue_name, "sent to the dead-letter queue");
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(at: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(at)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn at_expressions_parse_in_their_time_zone() {
        assert_eq!(
            parse_at("at(2026-11-25T20:34:06)", None).unwrap(),
            utc("2026-11-25T20:34:06Z")
        );
        assert_eq!(
            parse_at("at(2026-11-25T20:34:06)", Some("UTC")).unwrap(),
            utc("2026-11-25T20:34:06Z")
        );
        // Etc/GMT+5 is UTC-5.
        assert_eq!(
            parse_at("at(2026-11-25T15:34:06)", Some("Etc/GMT+5")).unwrap(),
            utc("2026-11-25T20:34:06Z")
        );
        assert_eq!(
            parse_at("at(2026-11-25T22:34:06)", Some("Etc/GMT-2")).unwrap(),
            utc("2026-11-25T20:34:06Z")
        );
    }

    #[test]
    fn other_expressions_and_zones_are_not_emulated() {
        assert_eq!(
            parse_at("rate(5 minutes)", None).unwrap_err(),
            "\"rate(5 minutes)\" is not a one-time at() expression"
        );
        assert!(parse_at("at(tomorrow)", None).is_err());
        assert_eq!(
            parse_at("at(2026-11-25T20:34:06)", Some("Europe/Paris")).unwrap_err(),
            "time zone \"Europe/Paris\" is not emulated (only UTC and Etc/GMT±h)"
        );
    }

    #[test]
    fn fire_offsets_parse_within_the_minute_of_precision() {
        assert_eq!(FireTime::parse("0"), Ok(FireTime::Offset(0)));
        assert_eq!(FireTime::parse("-45"), Ok(FireTime::Offset(-45)));
        assert_eq!(FireTime::parse("+10"), Ok(FireTime::Offset(10)));
        assert_eq!(FireTime::parse("minute"), Ok(FireTime::WithinMinute));
        assert_eq!(
            FireTime::parse("-60").unwrap_err().to_string(),
            "SCHEDULER_FIRE_OFFSET must be seconds from -59 to 59 or `minute`, not \"-60\""
        );
        assert!(FireTime::parse("early").is_err());
    }

    #[test]
    fn an_offset_moves_the_fire_time_and_within_minute_stays_in_the_minute() {
        let due = utc("2026-11-25T20:34:05Z");
        assert_eq!(
            FireTime::Offset(-5).fire_at("s", due),
            utc("2026-11-25T20:34:00Z")
        );
        for name in ["a", "b", "order-timeout-1", "order-timeout-2", "zzz"] {
            let at = FireTime::WithinMinute.fire_at(name, due);
            assert!(
                at >= utc("2026-11-25T20:34:00Z") && at <= utc("2026-11-25T20:34:59Z"),
                "{name}: {at}"
            );
            assert_eq!(
                at,
                FireTime::WithinMinute.fire_at(name, due),
                "reproducible"
            );
        }
    }

    #[test]
    fn a_failed_invocation_record_has_lambdas_shape() {
        let error = InvokeError::Function {
            function: "order-timeout".into(),
            status: 500,
            body: r#"{"errorType":"PaymentNotYetDue","errorMessage":"early"}"#.into(),
        };
        let record = invocation_record(
            "arn:aws:lambda:us-east-1:000000000000:function:order-timeout",
            &json!({"order_id": "o-1"}),
            3,
            &error,
            utc("2026-11-25T20:35:00Z"),
        );
        assert_eq!(record["version"], "1.0");
        assert_eq!(record["timestamp"], "2026-11-25T20:35:00.000Z");
        assert_eq!(
            record["requestContext"]["functionArn"],
            "arn:aws:lambda:us-east-1:000000000000:function:order-timeout:$LATEST"
        );
        assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
        assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(record["requestPayload"], json!({"order_id": "o-1"}));
        assert_eq!(record["responseContext"]["functionError"], "Unhandled");
        assert_eq!(
            record["responsePayload"],
            json!({"errorType":"PaymentNotYetDue","errorMessage":"early"})
        );
    }
}
