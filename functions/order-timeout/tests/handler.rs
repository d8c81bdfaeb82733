//! The handler against the local broker, with the Scheduler's payload as it arrives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use order_timeout::{Deps, HandlerError, config, handle};
use orderflow_adapters::kafka::{KafkaConfig, KafkaPublisher};
use orderflow_domain::testing::RecordingPublisher;
use orderflow_testing::broker::{ProxiedTopic, settle};
use orderflow_testing::figures;
use orderflow_testing::local::{self, TEST_LIMIT, within};
use orderflow_types::{EventType, OrderEvent, PaymentTimeout, Timestamp};
use rdkafka::Message;
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/events/payment-timeout.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

fn invocation(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}

/// What the handler keeps of an invocation for publishing, as main sets it with the default
/// delivery timeout.
const RESERVE: Duration = Duration::from_secs(6);

/// An invocation that Lambda ends `timeout` from now, for a payment due `due_in` from now.
fn early_invocation(
    due_in: chrono::TimeDelta,
    timeout: Duration,
) -> (LambdaEvent<Value>, Timestamp) {
    let now = chrono::Utc::now();
    let due = now + due_in;
    let payload = serde_json::json!({
        "order_id": "o-early",
        "user_id": "u-early",
        "payment_due_at": orderflow_types::time::format(&due),
    });
    let mut context = Context::default();
    context.deadline = u64::try_from((now + timeout).timestamp_millis()).expect("after 1970");
    (LambdaEvent::new(payload, context), due)
}

#[tokio::test]
async fn a_due_payment_publishes_a_timeout_event_keyed_by_order() {
    let topic = local::fresh_topic(3).await;
    let publisher =
        KafkaPublisher::connect(&local::kafka_config(), None, topic.clone()).expect("producer");
    let deps = Deps::new(publisher, RESERVE);
    handle(&deps, invocation(fixture())).await.expect("handled");

    let records = local::read_topic(&topic).await;
    assert_eq!(records.len(), 1, "one timeout event");
    let record = &records[0];
    let payload: PaymentTimeout = serde_json::from_value(fixture()).expect("payload");
    let event: OrderEvent =
        serde_json::from_slice(record.payload().expect("value")).expect("event");
    assert_eq!(record.key(), Some(payload.order_id.as_str().as_bytes()));
    assert_eq!(
        (event.order_id, event.user_id, event.event_type),
        (payload.order_id, payload.user_id, EventType::Timeout)
    );
}

#[tokio::test]
async fn an_invalid_payload_fails_the_invocation_and_publishes_nothing() {
    let recorder = Arc::new(RecordingPublisher::default());
    let deps = Deps::new(Arc::clone(&recorder), RESERVE);
    for payload in [
        serde_json::json!({"order_id": "o-1"}),
        serde_json::json!({"detail": {"order_id": "o-1", "user_id": "u-1"}}),
        serde_json::json!({"order_id": "bad id", "user_id": "u", "payment_due_at": "2026-11-25T20:00:00Z"}),
    ] {
        let err = handle(&deps, invocation(payload)).await.unwrap_err();
        assert!(matches!(err, HandlerError::InvalidPayload(_)), "{err:?}");
        assert_eq!(Diagnostic::from(err).error_type, "InvalidPayload");
    }
    assert!(recorder.events().is_empty());
    handle(&deps, invocation(fixture()))
        .await
        .expect("a valid payload is published");
    assert_eq!(recorder.events().len(), 1);
}

#[tokio::test]
async fn an_unreachable_broker_fails_the_invocation_as_retryable() {
    let config = KafkaConfig {
        bootstrap_servers: "127.0.0.1:9".into(),
        delivery_timeout: Duration::from_secs(1),
        ..local::kafka_config()
    };
    let deps = Deps::new(
        KafkaPublisher::connect(&config, None, "order-events").expect("producer"),
        RESERVE,
    );
    let err = handle(&deps, invocation(fixture())).await.unwrap_err();
    assert!(
        matches!(err, HandlerError::Publish(ref e) if e.is_retryable()),
        "{err:?}"
    );
    assert_eq!(Diagnostic::from(err).error_type, "KafkaUnavailable");
}

#[tokio::test]
async fn an_early_invocation_waits_for_the_deadline_and_then_publishes() {
    let recorder = Arc::new(RecordingPublisher::default());
    let deps = Deps::new(Arc::clone(&recorder), RESERVE);
    // As the Scheduler may: 1.5 s before the deadline, with the function's 15 s to run.
    let (invocation, due) = early_invocation(
        chrono::TimeDelta::milliseconds(1_500),
        Duration::from_secs(15),
    );
    handle(&deps, invocation)
        .await
        .expect("published after waiting");
    let events = recorder.events();
    assert_eq!(events.len(), 1);
    let announced_at = events[0].occurred_at.expect("a time");
    assert!(
        announced_at >= due,
        "announced at {announced_at}, before the deadline {due}"
    );
    assert_eq!(
        (events[0].order_id.as_str(), events[0].event_type),
        ("o-early", EventType::Timeout)
    );
}

#[tokio::test]
async fn an_invocation_too_early_to_wait_fails_as_not_yet_due_and_publishes_nothing() {
    let recorder = Arc::new(RecordingPublisher::default());
    let deps = Deps::new(Arc::clone(&recorder), RESERVE);
    // 50 s early, as the Scheduler may be at the start of the minute; 15 s to run.
    let (invocation, _) = early_invocation(chrono::TimeDelta::seconds(50), Duration::from_secs(15));
    let started = std::time::Instant::now();
    let err = handle(&deps, invocation).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it fails at once rather than wait: {:?}",
        started.elapsed()
    );
    assert!(matches!(err, HandlerError::NotYetDue { .. }), "{err:?}");
    assert_eq!(Diagnostic::from(err).error_type, "PaymentNotYetDue");
    assert!(recorder.events().is_empty());
}

#[tokio::test]
async fn an_early_invocation_without_time_to_publish_after_the_deadline_fails() {
    let recorder = Arc::new(RecordingPublisher::default());
    let deps = Deps::new(Arc::clone(&recorder), RESERVE);
    // 2 s early, but the invocation ends in 7 s: waiting would leave 5 s, less than the reserve.
    let (invocation, _) = early_invocation(chrono::TimeDelta::seconds(2), Duration::from_secs(7));
    let err = handle(&deps, invocation).await.unwrap_err();
    assert!(matches!(err, HandlerError::NotYetDue { .. }), "{err:?}");
    assert!(recorder.events().is_empty());
}

#[test]
fn configuration_names_missing_variables() {
    let err = config::from_vars(|_| None).unwrap_err();
    assert_eq!(err.to_string(), "KAFKA_BOOTSTRAP_SERVERS is not set");
    let config = config::from_vars(|name| {
        (name == "KAFKA_BOOTSTRAP_SERVERS").then(|| "127.0.0.1:9092".into())
    })
    .unwrap();
    assert_eq!(config.topic, "order-events");
}

/// Between order-timeout and a private broker: the answer to the publish lost on the wire (the
/// broker appended the event), then held past the delivery timeout. Lost: the producer resends,
/// the broker keeps one copy, the invocation succeeds. Held: the invocation fails as retryable
/// within the delivery timeout and a margin, far inside the function's 15 s, and Lambda's retry
/// of it publishes once the broker answers again.
#[tokio::test]
async fn a_lost_or_held_broker_answer_fails_the_invocation_in_time_and_its_retry_publishes() {
    within(TEST_LIMIT, "the whole test", async {
        let ProxiedTopic {
            broker,
            proxy,
            topic,
            publisher,
        } = ProxiedTopic::start(1).await;
        let deps = Deps::new(publisher, RESERVE);
        let publish = || {
            within(
                Duration::from_secs(10),
                "an invocation",
                handle(&deps, invocation(fixture())),
            )
        };
        publish()
            .await
            .expect("a first timeout connects the producer");

        // The answer lost: published once.
        settle(&proxy).await;
        proxy.lose_response(proxy.responses());
        publish().await.expect("the producer resends a lost answer");
        assert_eq!(proxy.resets(), 1, "the broker's answer was lost");
        assert_eq!(broker.read_topic(&topic).await.len(), 2, "one copy each");

        // The answer held: a retryable failure in time, then Lambda's retry publishes.
        settle(&proxy).await;
        proxy.hold_response(proxy.responses());
        let started = Instant::now();
        let err = publish()
            .await
            .expect_err("a held answer fails the invocation");
        let failed_after = started.elapsed();
        assert!(
            matches!(err, HandlerError::Publish(ref e) if e.is_retryable()),
            "{err:?}"
        );
        assert!(
            failed_after < RESERVE,
            "failed after {failed_after:?}, past the publish reserve"
        );
        assert!(
            proxy.wait_for_held(Duration::ZERO).await,
            "the answer held was the broker's"
        );
        proxy.release();
        let mut retries = 0;
        loop {
            retries += 1;
            match publish().await {
                Ok(()) => break,
                // The stalled producer is replaced after the failure; its replacement delivers.
                Err(err) if retries < 3 => assert!(
                    matches!(err, HandlerError::Publish(ref e) if e.is_retryable()),
                    "{err:?}"
                ),
                Err(err) => panic!("still failing after {retries} retries: {err:?}"),
            }
        }
        let records = broker.read_topic(&topic).await;
        let payload: PaymentTimeout = serde_json::from_value(fixture()).expect("payload");
        for record in &records {
            let event: OrderEvent =
                serde_json::from_slice(record.payload().expect("value")).expect("event");
            assert_eq!(
                (&event.order_id, event.event_type),
                (&payload.order_id, EventType::Timeout)
            );
        }
        assert!(
            records.len() >= 3,
            "the retry published: {} records",
            records.len()
        );
        figures::report(
            "order-timeout with a faulted broker",
            format!(
                "answer lost: published once (1 reset); answer held: failed as retryable after \
                 {failed_after:.1?}, published by retry {retries}; {} timeout records for the \
                 order in all (at least once: the consumer applies a timeout once)",
                records.len()
            ),
        );
    })
    .await;
}
