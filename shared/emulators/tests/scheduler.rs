//! The Scheduler emulator against moto (schedules, SQS), with functions invoked in this process:
//! when it fires, and what it does with a target that fails or cannot be reached.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, ScheduleState, Target,
};
use chrono::{DateTime, TimeDelta, Utc};
use orderflow_emulators::lambda::{Invoke, InvokeError, LocalLambda};
use orderflow_emulators::scheduler::{AsyncInvokeSettings, FireTime, Scheduler, SchedulerSettings};
use orderflow_testing::local;
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::000000000000:role/orderflow-scheduler";

fn settings(group: &str, fire: FireTime) -> SchedulerSettings {
    SchedulerSettings {
        group: group.to_owned(),
        poll_interval: Duration::from_millis(100),
        fire,
        max_concurrent: 4,
        async_invoke: AsyncInvokeSettings {
            max_retry_attempts: 2,
            retry_delay: Duration::from_millis(100),
            max_event_age: Duration::from_secs(60),
            on_failure_queue_arn: None,
        },
    }
}

async fn group() -> (aws_sdk_scheduler::Client, String) {
    let client = local::scheduler_client().await;
    let group = local::unique_name("emulated");
    client
        .create_schedule_group()
        .name(&group)
        .send()
        .await
        .expect("create group");
    (client, group)
}

async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(local::aws_config().await)
}

/// A fresh queue: its ARN and URL.
async fn queue(sqs: &aws_sdk_sqs::Client) -> (String, String) {
    let name = local::unique_name("dlq");
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_owned();
    (format!("arn:aws:sqs:us-east-1:000000000000:{name}"), url)
}

/// The bodies and `ERROR_MESSAGE` attributes of every message on `url`, waiting up to 10 s
/// for the first.
async fn messages(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<(String, Option<String>)> {
    let received = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(10)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive");
    received
        .messages()
        .iter()
        .map(|m| {
            (
                m.body().unwrap_or_default().to_owned(),
                m.message_attributes()
                    .and_then(|a| a.get("ERROR_MESSAGE"))
                    .and_then(|a| a.string_value())
                    .map(str::to_owned),
            )
        })
        .collect()
}

struct NewSchedule<'a> {
    name: &'a str,
    function: &'a str,
    input: Value,
    /// `yyyy-mm-ddThh:mm:ss`, in UTC.
    at: String,
    state: ScheduleState,
    max_retry_attempts: i32,
    dead_letter_arn: Option<String>,
}

impl<'a> NewSchedule<'a> {
    /// A schedule that was due a second ago (an older one may be past its maximum event age).
    fn due(name: &'a str, function: &'a str, input: Value) -> Self {
        Self {
            name,
            function,
            input,
            at: (Utc::now() - TimeDelta::seconds(1))
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string(),
            state: ScheduleState::Enabled,
            max_retry_attempts: 185,
            dead_letter_arn: None,
        }
    }

    async fn create(self, client: &aws_sdk_scheduler::Client, group: &str) {
        let target = Target::builder()
            .arn(format!(
                "arn:aws:lambda:us-east-1:000000000000:function:{}",
                self.function
            ))
            .role_arn(ROLE)
            .input(self.input.to_string())
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(self.max_retry_attempts)
                    .maximum_event_age_in_seconds(86_400)
                    .build(),
            )
            .set_dead_letter_config(
                self.dead_letter_arn
                    .map(|arn| DeadLetterConfig::builder().arn(arn).build()),
            )
            .build()
            .expect("target");
        client
            .create_schedule()
            .name(self.name)
            .group_name(group)
            .schedule_expression(format!("at({})", self.at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()
                    .expect("window"),
            )
            .state(self.state)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await
            .unwrap_or_else(|err| panic!("create schedule {}: {err:?}", self.name));
    }
}

async fn exists(client: &aws_sdk_scheduler::Client, group: &str, name: &str) -> bool {
    match client
        .get_schedule()
        .group_name(group)
        .name(name)
        .send()
        .await
    {
        Ok(_) => true,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(err) => panic!("get schedule {name}: {err:?}"),
    }
}

/// Polls until `started` deliveries have started, for at most `within`.
async fn poll_until_started<I: Invoke>(
    scheduler: &mut Scheduler<I>,
    started: usize,
    within: Duration,
) {
    let deadline = tokio::time::Instant::now() + within;
    let mut total = 0;
    while total < started {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {total} of {started} deliveries started within {within:?}"
        );
        total += scheduler.poll().await.expect("poll");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Functions that record their invocations and behave as told per payload `name`.
#[derive(Default)]
struct Functions {
    calls: Mutex<Vec<(String, Value, DateTime<Utc>)>>,
    finished: AtomicUsize,
}

impl Functions {
    fn calls(&self) -> Vec<(String, Value, DateTime<Utc>)> {
        self.calls.lock().expect("lock").clone()
    }
}

impl Invoke for Functions {
    async fn invoke(&self, function: &str, payload: &Value) -> Result<Value, InvokeError> {
        self.calls
            .lock()
            .expect("lock")
            .push((function.to_owned(), payload.clone(), Utc::now()));
        if payload["slow"] == true {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
        if function == "always-fails" {
            return Err(InvokeError::Function {
                function: function.to_owned(),
                status: 500,
                body: r#"{"errorType":"Boom","errorMessage":"it always fails"}"#.into(),
            });
        }
        Ok(Value::Null)
    }
}

#[tokio::test]
async fn a_schedule_deleted_between_listing_and_reading_does_not_stop_the_poll() {
    let (client, group) = group().await;
    NewSchedule::due("present", "f", json!({"name": "present"}))
        .create(&client, &group)
        .await;
    let functions = Arc::new(Functions::default());
    let mut scheduler = Scheduler::new(
        settings(&group, FireTime::Offset(0)),
        client.clone(),
        sqs().await,
        Arc::clone(&functions),
    );
    // "gone" was listed, then deleted before it was read.
    let started = scheduler
        .poll_listed(vec!["gone".into(), "present".into()])
        .await;
    scheduler.settle().await;
    assert_eq!(started, 1);
    let called: Vec<Value> = functions.calls().into_iter().map(|(_, p, _)| p).collect();
    assert_eq!(called, [json!({"name": "present"})]);
    assert!(
        !exists(&client, &group, "present").await,
        "deleted after it ran"
    );
}

#[tokio::test]
async fn disabled_schedules_never_fire_and_slow_targets_run_side_by_side() {
    let (client, group) = group().await;
    NewSchedule::due("slow-1", "f", json!({"name": "slow-1", "slow": true}))
        .create(&client, &group)
        .await;
    NewSchedule::due("slow-2", "f", json!({"name": "slow-2", "slow": true}))
        .create(&client, &group)
        .await;
    NewSchedule {
        state: ScheduleState::Disabled,
        ..NewSchedule::due("disabled", "f", json!({"name": "disabled"}))
    }
    .create(&client, &group)
    .await;
    let functions = Arc::new(Functions::default());
    let mut scheduler = Scheduler::new(
        settings(&group, FireTime::Offset(0)),
        client.clone(),
        sqs().await,
        Arc::clone(&functions),
    );
    let polled = std::time::Instant::now();
    assert_eq!(scheduler.poll().await.expect("poll"), 2);
    scheduler.settle().await;
    // Each target takes 2 s: one after the other would take 4.
    let took = polled.elapsed();
    println!("two 2-second targets took {} ms", took.as_millis());
    assert!(took < Duration::from_millis(3_500), "serialised: {took:?}");
    let mut called: Vec<String> = functions
        .calls()
        .into_iter()
        .map(|(_, payload, _)| payload["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    called.sort();
    assert_eq!(called, ["slow-1", "slow-2"], "the disabled one never ran");
    assert_eq!(functions.finished.load(Ordering::SeqCst), 2);
    assert!(exists(&client, &group, "disabled").await);
    assert_eq!(
        scheduler.poll().await.expect("poll"),
        0,
        "disabled stays idle"
    );
}

#[tokio::test]
async fn a_schedule_fires_early_by_the_configured_offset_and_not_before() {
    let (client, group) = group().await;
    let due = (Utc::now() + TimeDelta::seconds(4))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    NewSchedule {
        at: due.clone(),
        ..NewSchedule::due("soon", "f", json!({"name": "soon"}))
    }
    .create(&client, &group)
    .await;
    let functions = Arc::new(Functions::default());
    let mut scheduler = Scheduler::new(
        settings(&group, FireTime::Offset(-2)),
        client.clone(),
        sqs().await,
        Arc::clone(&functions),
    );
    poll_until_started(&mut scheduler, 1, Duration::from_secs(10)).await;
    scheduler.settle().await;
    let due = DateTime::parse_from_rfc3339(&format!("{due}Z"))
        .expect("due")
        .with_timezone(&Utc);
    let fired = functions.calls()[0].2;
    let early = due - fired;
    println!("fired {} ms before its time", early.num_milliseconds());
    assert!(
        early > TimeDelta::seconds(1) && early <= TimeDelta::seconds(2),
        "fired {} ms early, not about 2 s",
        early.num_milliseconds()
    );
}

#[tokio::test]
async fn a_failing_function_gets_lambdas_retries_then_its_record_goes_to_the_on_failure_queue() {
    let (client, group) = group().await;
    let sqs = sqs().await;
    let (queue_arn, queue_url) = queue(&sqs).await;
    NewSchedule::due("fails", "always-fails", json!({"name": "fails"}))
        .create(&client, &group)
        .await;
    let functions = Arc::new(Functions::default());
    let mut settings = settings(&group, FireTime::Offset(0));
    settings.async_invoke.on_failure_queue_arn = Some(queue_arn);
    let mut scheduler = Scheduler::new(
        settings,
        client.clone(),
        sqs.clone(),
        Arc::clone(&functions),
    );
    assert_eq!(scheduler.poll().await.expect("poll"), 1);
    scheduler.settle().await;
    assert_eq!(
        functions.calls().len(),
        3,
        "the first attempt and two retries"
    );
    assert!(
        !exists(&client, &group, "fails").await,
        "the schedule completed when Lambda took the event"
    );
    let messages = messages(&sqs, &queue_url).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let record: Value = serde_json::from_str(&messages[0].0).expect("json");
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(
        record["requestContext"]["functionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:always-fails:$LATEST"
    );
    assert_eq!(record["requestPayload"], json!({"name": "fails"}));
    assert_eq!(
        record["responsePayload"],
        json!({"errorType": "Boom", "errorMessage": "it always fails"})
    );
}

#[tokio::test]
async fn an_unreachable_target_is_retried_per_the_retry_policy_then_dead_lettered() {
    let (client, group) = group().await;
    let sqs = sqs().await;
    let (queue_arn, queue_url) = queue(&sqs).await;
    NewSchedule {
        max_retry_attempts: 1,
        dead_letter_arn: Some(queue_arn),
        ..NewSchedule::due("unreachable", "f", json!({"order_id": "o-1"}))
    }
    .create(&client, &group)
    .await;
    // Nothing listens on port 9: every invocation fails to connect.
    let lambda = LocalLambda::new("http://127.0.0.1:9", Duration::from_secs(2)).expect("client");
    let mut scheduler = Scheduler::new(
        settings(&group, FireTime::Offset(0)),
        client.clone(),
        sqs.clone(),
        lambda,
    );
    // The first attempt, then the retry a second later.
    poll_until_started(&mut scheduler, 1, Duration::from_secs(5)).await;
    scheduler.settle().await;
    assert!(
        exists(&client, &group, "unreachable").await,
        "kept for its retry"
    );
    poll_until_started(&mut scheduler, 1, Duration::from_secs(5)).await;
    scheduler.settle().await;
    assert!(!exists(&client, &group, "unreachable").await);
    let messages = messages(&sqs, &queue_url).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].0, r#"{"order_id":"o-1"}"#);
    let reason = messages[0].1.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("the Lambda endpoint could not be reached"),
        "{reason}"
    );
}
