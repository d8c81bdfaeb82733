//! The EventBridge Scheduler adapter against moto.

use std::time::Duration;

use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode};
use orderflow_adapters::scheduler::{EventBridgeScheduler, SchedulerConfig, schedule_name};
use orderflow_domain::error::{Dependency, Error};
use orderflow_domain::ports::TimeoutScheduler;
use orderflow_testing::local;
use orderflow_types::{OrderId, PaymentTimeout, UserId, time};

async fn scheduler() -> (EventBridgeScheduler, aws_sdk_scheduler::Client, String) {
    let client = local::scheduler_client().await;
    let group = local::unique_name("timeouts");
    client
        .create_schedule_group()
        .name(&group)
        .send()
        .await
        .expect("create group");
    let config = SchedulerConfig {
        group_name: group.clone(),
        target_arn: "arn:aws:lambda:us-east-1:123456789012:function:order-timeout".into(),
        role_arn: "arn:aws:iam::123456789012:role/orderflow-scheduler".into(),
        dead_letter_arn: Some("arn:aws:sqs:us-east-1:123456789012:orderflow-timeouts-dlq".into()),
        max_retry_attempts: 5,
        max_event_age: Duration::from_secs(3600),
    };
    (
        EventBridgeScheduler::new(client.clone(), config),
        client,
        group,
    )
}

fn timeout(order: &str) -> PaymentTimeout {
    PaymentTimeout {
        order_id: OrderId::parse(order).unwrap(),
        user_id: UserId::parse("u-1").unwrap(),
        payment_due_at: time::parse("2030-01-01T00:30:00.250Z").unwrap(),
    }
}

#[tokio::test]
async fn a_timeout_becomes_a_one_time_schedule_that_deletes_itself() {
    let (scheduler, client, group) = scheduler().await;
    let payload = timeout("o-1");
    scheduler.schedule(&payload).await.expect("schedule");

    let schedule = client
        .get_schedule()
        .name(schedule_name(&payload.order_id))
        .group_name(&group)
        .send()
        .await
        .expect("get schedule");
    assert_eq!(
        schedule.schedule_expression(),
        Some("at(2030-01-01T00:30:01)")
    );
    assert_eq!(schedule.schedule_expression_timezone(), Some("UTC"));
    assert_eq!(
        schedule.action_after_completion(),
        Some(&ActionAfterCompletion::Delete)
    );
    assert_eq!(
        schedule.flexible_time_window().map(|w| w.mode()),
        Some(&FlexibleTimeWindowMode::Off)
    );
    let target = schedule.target().expect("target");
    assert_eq!(
        target.arn(),
        "arn:aws:lambda:us-east-1:123456789012:function:order-timeout"
    );
    assert_eq!(
        target.role_arn(),
        "arn:aws:iam::123456789012:role/orderflow-scheduler"
    );
    let input: PaymentTimeout =
        serde_json::from_str(target.input().expect("input")).expect("payload");
    assert_eq!(input, payload);
    let retry = target.retry_policy().expect("retry policy");
    assert_eq!(
        (
            retry.maximum_retry_attempts(),
            retry.maximum_event_age_in_seconds()
        ),
        (Some(5), Some(3600))
    );
    assert_eq!(
        target.dead_letter_config().and_then(|d| d.arn()),
        Some("arn:aws:sqs:us-east-1:123456789012:orderflow-timeouts-dlq")
    );
}

#[tokio::test]
async fn scheduling_twice_keeps_one_schedule() {
    let (scheduler, client, group) = scheduler().await;
    scheduler.schedule(&timeout("o-1")).await.expect("schedule");
    scheduler
        .schedule(&timeout("o-1"))
        .await
        .expect("schedule again is not an error");
    let listed = client
        .list_schedules()
        .group_name(&group)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.schedules().len(), 1);
}

#[tokio::test]
async fn cancelling_removes_the_schedule_and_may_be_repeated() {
    let (scheduler, client, group) = scheduler().await;
    let payload = timeout("o-2");
    scheduler.schedule(&payload).await.expect("schedule");
    scheduler.cancel(&payload.order_id).await.expect("cancel");
    let gone = client
        .get_schedule()
        .name(schedule_name(&payload.order_id))
        .group_name(&group)
        .send()
        .await;
    assert!(gone.is_err_and(|err| {
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception())
    }));
    scheduler
        .cancel(&payload.order_id)
        .await
        .expect("cancelling a missing schedule is fine");
    scheduler
        .cancel(&OrderId::parse("never-scheduled").unwrap())
        .await
        .expect("never scheduled is fine");
}

#[tokio::test]
async fn an_unreachable_scheduler_is_retryable() {
    let (_, _, group) = scheduler().await;
    let config = aws_sdk_scheduler::config::Builder::from(local::aws_config().await)
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_sdk_scheduler::config::retry::RetryConfig::disabled())
        .build();
    let scheduler = EventBridgeScheduler::new(
        aws_sdk_scheduler::Client::from_conf(config),
        SchedulerConfig {
            group_name: group,
            target_arn: "arn:aws:lambda:us-east-1:123456789012:function:order-timeout".into(),
            role_arn: "arn:aws:iam::123456789012:role/orderflow-scheduler".into(),
            dead_letter_arn: None,
            max_retry_attempts: 0,
            max_event_age: Duration::from_secs(60),
        },
    );
    let err = scheduler.schedule(&timeout("o-3")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unavailable {
                dependency: Dependency::Scheduler,
                ..
            }
        ),
        "{err:?}"
    );
    let err = scheduler
        .cancel(&OrderId::parse("o-3").unwrap())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}
