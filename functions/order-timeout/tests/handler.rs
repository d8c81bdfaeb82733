//! The handler against the local broker, with the Scheduler's payload as it arrives.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use order_timeout::{Config, Deps, HandlerError, handle};
use orderflow_core::adapters::kafka::{KafkaConfig, KafkaPublisher, create_producer};
use orderflow_core::testing::{RecordingPublisher, local};
use orderflow_types::{EventType, OrderEvent, PaymentTimeout};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
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

#[tokio::test]
async fn a_due_payment_publishes_a_timeout_event_keyed_by_order() {
    let topic = local::fresh_topic(3).await;
    let producer = create_producer(&local::kafka_config(), None).expect("producer");
    let deps = Deps::new(KafkaPublisher::new(producer, topic.clone()));
    handle(&deps, invocation(fixture())).await.expect("handled");

    let consumer: StreamConsumer = local::kafka_config()
        .client_config()
        .set("group.id", local::unique_name("test-group"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let record = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a record within 30 s")
        .expect("record");
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
    let deps = Deps::new(Arc::clone(&recorder));
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
    let deps = Deps::new(KafkaPublisher::new(
        create_producer(&config, None).expect("producer"),
        "order-events",
    ));
    let err = handle(&deps, invocation(fixture())).await.unwrap_err();
    assert!(
        matches!(err, HandlerError::Publish(ref e) if e.is_retryable()),
        "{err:?}"
    );
    assert_eq!(Diagnostic::from(err).error_type, "KafkaUnavailable");
}

#[test]
fn configuration_names_missing_variables() {
    let err = Config::from_vars(|_| None).unwrap_err();
    assert_eq!(err, "KAFKA_BOOTSTRAP_SERVERS is not set");
    let config = Config::from_vars(|name| {
        (name == "KAFKA_BOOTSTRAP_SERVERS").then(|| "127.0.0.1:9092".into())
    })
    .unwrap();
    assert_eq!(config.topic, "order-events");
}
