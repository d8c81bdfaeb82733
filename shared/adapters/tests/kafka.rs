//! The Kafka adapter against the local broker: a produce/consume round trip, and its failures.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_types::sdk_config::SharedCredentialsProvider;
use base64::Engine;
use orderflow_adapters::kafka::{KafkaAuth, KafkaConfig, KafkaContext, KafkaPublisher};
use orderflow_domain::error::{Dependency, Error};
use orderflow_domain::ports::EventPublisher;
use orderflow_testing::broker::PrivateBroker;
use orderflow_testing::local;
use orderflow_types::{EventType, OrderEvent, OrderId, UserId};
use rdkafka::ClientContext;
use rdkafka::Message;
use rdkafka::message::Headers;

fn event(order: &str, event_type: EventType) -> OrderEvent {
    OrderEvent::new(
        OrderId::parse(order).unwrap(),
        UserId::parse("u-1").unwrap(),
        event_type,
        chrono::Utc::now(),
    )
}

fn headers(message: &rdkafka::message::OwnedMessage) -> BTreeMap<String, String> {
    message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| {
                    (
                        h.key.to_owned(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn published_events_arrive_keyed_by_order_with_headers() {
    let topic = local::fresh_topic(3).await;
    let publisher =
        KafkaPublisher::connect(&local::kafka_config(), None, topic.clone()).expect("producer");
    let sent = [
        event("o-1", EventType::Created),
        event("o-2", EventType::Created),
        event("o-1", EventType::Paid),
        event("o-2", EventType::Timeout),
        event("o-2", EventType::Cancelled),
    ];
    for event in &sent {
        publisher.publish(event).await.expect("publish");
    }

    let received = local::read_topic(&topic).await;
    assert_eq!(received.len(), sent.len(), "each event published once");
    let mut partitions: BTreeMap<String, i32> = BTreeMap::new();
    let mut per_order: BTreeMap<String, Vec<EventType>> = BTreeMap::new();
    for message in &received {
        let key = String::from_utf8(message.key().expect("key").to_vec()).expect("utf-8 key");
        let value: OrderEvent =
            serde_json::from_slice(message.payload().expect("value")).expect("event json");
        assert_eq!(value.order_id.as_str(), key, "the key is the order id");
        assert!(sent.contains(&value), "{value:?} was not sent");
        let headers = headers(message);
        assert_eq!(
            headers.get("event_type").map(String::as_str),
            Some(value.event_type.as_str())
        );
        assert_eq!(
            headers.get("content-type").map(String::as_str),
            Some("application/json")
        );
        assert_eq!(
            headers.get("event_id"),
            value.event_id.as_ref().map(|id| id.to_string()).as_ref()
        );
        // One order's events share a partition, so they are consumed in the order published.
        let partition = *partitions.entry(key.clone()).or_insert(message.partition());
        assert_eq!(
            partition,
            message.partition(),
            "order {key} changed partition"
        );
        per_order.entry(key).or_default().push(value.event_type);
    }
    assert_eq!(per_order["o-1"], [EventType::Created, EventType::Paid]);
    assert_eq!(
        per_order["o-2"],
        [EventType::Created, EventType::Timeout, EventType::Cancelled]
    );
    publisher.flush(Duration::from_secs(5)).expect("flush");
}

#[tokio::test]
async fn publishing_to_an_unreachable_broker_fails_retryably_within_the_delivery_timeout() {
    let config = KafkaConfig {
        bootstrap_servers: "127.0.0.1:9".into(),
        delivery_timeout: Duration::from_millis(1500),
        ..local::kafka_config()
    };
    let publisher = KafkaPublisher::connect(&config, None, "order-events").expect("producer");
    let started = std::time::Instant::now();
    let err = publisher
        .publish(&event("o-1", EventType::Created))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unavailable {
                dependency: Dependency::Kafka,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_producer_in_a_fatal_state_is_replaced_and_publishing_goes_on() {
    let topic = local::fresh_topic(1).await;
    let publisher =
        KafkaPublisher::connect(&local::kafka_config(), None, topic.clone()).expect("producer");
    publisher
        .publish(&event("o-1", EventType::Created))
        .await
        .expect("before");

    // What a broker stall did to the idempotent producer: `ProducerFenced`, for good.
    publisher
        .inject_fatal_error()
        .expect("fatal error injected");
    publisher
        .publish(&event("o-2", EventType::Created))
        .await
        .expect("through the replacement");
    assert_eq!(publisher.replacements(), 1);
    // A clone shares the replacement: one producer per publisher, however many handles.
    publisher
        .clone()
        .publish(&event("o-3", EventType::Created))
        .await
        .expect("still through the replacement");
    assert_eq!(publisher.replacements(), 1);

    let orders: Vec<String> = local::read_topic(&topic)
        .await
        .iter()
        .map(|m| String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(orders, ["o-1", "o-2", "o-3"]);
}

#[tokio::test]
async fn a_broker_stall_fails_publishes_for_its_duration_only() {
    let broker = PrivateBroker::start().await;
    let config = broker.kafka_config();
    let topic = local::fresh_topic_on(&config, 1).await;
    let publisher = KafkaPublisher::connect(&config, None, topic).expect("producer");
    publisher
        .publish(&event("o-1", EventType::Created))
        .await
        .expect("before the stall");

    // Frozen for longer than a delivery may take: the publish fails, retryably, in time.
    broker.freeze();
    let started = Instant::now();
    let err = publisher
        .publish(&event("o-2", EventType::Created))
        .await
        .expect_err("the broker is frozen");
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    broker.thaw();

    // Once the broker answers again, so does the publisher: within a few attempts, as a client
    // retrying after 503 + Retry-After would see, and never stuck in librdkafka's fatal state.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failures = Vec::new();
    loop {
        match publisher.publish(&event("o-3", EventType::Created)).await {
            Ok(()) => break,
            Err(err) => failures.push(format!("{err:?}")),
        }
        assert!(
            Instant::now() < deadline,
            "still failing 30 s after the broker came back ({} producer(s) replaced): {failures:#?}",
            publisher.replacements()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!(
        "broker frozen ~7 s: {} failed publishes after thawing, {} producer(s) replaced",
        failures.len(),
        publisher.replacements()
    );
}

#[tokio::test]
async fn msk_iam_needs_credentials() {
    let config = KafkaConfig {
        auth: KafkaAuth::MskIam {
            region: "eu-west-1".into(),
        },
        ..local::kafka_config()
    };
    let err = KafkaContext::new(&config, None)
        .err()
        .expect("no credentials is an error");
    assert!(
        matches!(
            err,
            Error::Rejected {
                dependency: Dependency::Kafka,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn msk_iam_tokens_are_signed_connect_requests() {
    let config = KafkaConfig {
        auth: KafkaAuth::MskIam {
            region: "eu-west-1".into(),
        },
        ..local::kafka_config()
    };
    let credentials = SharedCredentialsProvider::new(Credentials::for_tests());
    let context = KafkaContext::new(&config, Some(credentials)).expect("context");
    let token = tokio::task::spawn_blocking(move || {
        context
            .generate_oauth_token(None)
            .map(|t| (t.token, t.lifetime_ms))
            .map_err(|e| e.to_string())
    })
    .await
    .expect("task")
    .expect("token");
    let url = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token.0)
            .expect("base64url"),
    )
    .expect("utf-8");
    assert!(
        url.starts_with("https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect"),
        "{url}"
    );
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(
        token.1 > chrono::Utc::now().timestamp_millis(),
        "the token expires in the future"
    );
}
