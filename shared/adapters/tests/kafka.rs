//! The Kafka adapter against the local broker: a produce/consume round trip, and its failures,
//! including faults on the wire between the producer and a private broker (responses lost, slow,
//! held past the delivery timeout).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_types::sdk_config::SharedCredentialsProvider;
use base64::Engine;
use orderflow_adapters::kafka::{KafkaAuth, KafkaConfig, KafkaContext, KafkaPublisher};
use orderflow_domain::error::{Dependency, Error};
use orderflow_domain::ports::EventPublisher;
use orderflow_testing::broker::{PrivateBroker, ProxiedTopic, settle};
use orderflow_testing::figures;
use orderflow_testing::local;
use orderflow_testing::local::{TEST_LIMIT, within};
use orderflow_types::{EventType, OrderEvent, OrderId, UserId};
use rdkafka::ClientContext;
use rdkafka::Message;
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};

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
    // As order-stream and order-timeout start: warmed up, then publishing.
    publisher.warm_up().await;
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

/// A publisher whose broker address answers nothing, with a delivery timeout of 1.5 s.
fn unreachable_publisher() -> KafkaPublisher {
    let config = KafkaConfig {
        bootstrap_servers: "127.0.0.1:9".into(),
        delivery_timeout: Duration::from_millis(1500),
        ..local::kafka_config()
    };
    KafkaPublisher::connect(&config, None, "order-events").expect("producer")
}

/// Publishes one event through `publisher` and expects it to fail as Kafka being unavailable.
async fn assert_publish_unavailable(publisher: &KafkaPublisher) {
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
}

#[tokio::test]
async fn publishing_to_an_unreachable_broker_fails_retryably_within_the_delivery_timeout() {
    let publisher = unreachable_publisher();
    let started = Instant::now();
    assert_publish_unavailable(&publisher).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn warming_up_against_an_unreachable_broker_gives_up_within_the_delivery_timeout() {
    let publisher = unreachable_publisher();
    let started = Instant::now();
    publisher.warm_up().await;
    // Bounded by the delivery timeout: a cold start is not held up for long by a broker that is
    // down, and the function starts anyway.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // Nothing is hidden: the first publish still reports the broker as unavailable.
    assert_publish_unavailable(&publisher).await;
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
    figures::report(
        "producer, a frozen broker",
        format!(
            "broker frozen ~7 s: {} failed publishes after thawing, {} producer(s) replaced",
            failures.len(),
            publisher.replacements()
        ),
    );
}

/// How long a publish may take when the broker stalls: the delivery timeout, plus room for a busy
/// test machine.
const STALLED_PUBLISH_WITHIN: Duration =
    KafkaConfig::DEFAULT_DELIVERY_TIMEOUT.saturating_add(Duration::from_secs(3));

/// A private broker behind a fault proxy, a one-partition topic on it, and a publisher whose
/// connections are already up (one event, `o-0`, published), so that a fault armed once the proxy
/// is idle hits the answer to the next publish rather than the producer's start-up.
async fn proxied_publisher() -> ProxiedTopic {
    let proxied = ProxiedTopic::start(1).await;
    within(
        STALLED_PUBLISH_WITHIN,
        "publishing before any fault",
        proxied.publisher.publish(&event("o-0", EventType::Created)),
    )
    .await
    .expect("published before any fault");
    proxied
}

/// How many records on `topic` of `broker` carry the key `order`.
async fn copies(broker: &PrivateBroker, topic: &str, order: &str) -> usize {
    within(
        Duration::from_secs(40),
        "reading the topic",
        broker.read_topic(topic),
    )
    .await
    .iter()
    .filter(|message| message.key() == Some(order.as_bytes()))
    .count()
}

/// The broker appends the record, then the connection is reset before its produce response
/// reaches the producer. The producer reconnects and sends the record again with the same
/// producer id and sequence number, so the publish succeeds, and the broker (tansu 0.6 does)
/// drops the resent copy: one record on the topic.
///
/// The control is the same fault under a producer without idempotence, which resends the record
/// as new: two copies, which shows that the lost response was the produce's and that the single
/// copy is the broker's deduplication, not luck.
#[tokio::test]
async fn a_lost_produce_response_is_retried_by_the_producer_and_the_record_lands_once() {
    within(TEST_LIMIT, "the whole test", async {
        let ProxiedTopic {
            broker,
            proxy,
            topic,
            publisher,
        } = proxied_publisher().await;
        settle(&proxy).await;
        let before = proxy.responses();
        proxy.lose_response(before);
        let started = Instant::now();
        within(
            STALLED_PUBLISH_WITHIN,
            "publishing with the response lost",
            publisher.publish(&event("o-1", EventType::Created)),
        )
        .await
        .expect("the producer retried the lost produce");
        let took = started.elapsed();
        let responses = proxy.responses() - before;
        assert_eq!(proxy.resets(), 1, "the produce response was lost");

        let plain: FutureProducer = broker
            .kafka_config()
            .producer_config()
            .set("enable.idempotence", "false")
            .create()
            .expect("a producer without idempotence");
        let send = async |key: &str| {
            let record = FutureRecord::<str, str>::to(&topic).key(key).payload("{}");
            within(
                STALLED_PUBLISH_WITHIN,
                "publishing without idempotence",
                plain.send(record, Duration::from_secs(5)),
            )
            .await
            .map_err(|(err, _)| err)
        };
        send("warm-up").await.expect("connected");
        settle(&proxy).await;
        proxy.lose_response(proxy.responses());
        send("o-2").await.expect("retried without idempotence");
        assert_eq!(proxy.resets(), 2, "the control's produce response was lost");

        let idempotent = copies(&broker, &topic, "o-1").await;
        let control = copies(&broker, &topic, "o-2").await;
        figures::report(
            "producer, a lost produce answer",
            format!(
                "1 reset, published after {took:.1?} and {responses} responses, \
                 {idempotent} copy on the topic ({control} without idempotence), {} producer(s) \
                 replaced",
                publisher.replacements()
            ),
        );
        assert_eq!(
            control, 2,
            "without idempotence the resent record is a duplicate"
        );
        assert_eq!(idempotent, 1, "the broker deduplicated the resent record");
    })
    .await;
}

/// Every broker response comes a second late, well inside the delivery timeout: publishing is
/// slower, and nothing fails.
#[tokio::test]
async fn slow_broker_responses_within_the_delivery_timeout_only_slow_publishing_down() {
    within(TEST_LIMIT, "the whole test", async {
        const DELAY: Duration = Duration::from_secs(1);
        let ProxiedTopic {
            broker,
            proxy,
            topic,
            publisher,
        } = proxied_publisher().await;
        proxy.slow_down(DELAY);
        let mut latencies = Vec::new();
        for order in ["o-1", "o-2"] {
            let started = Instant::now();
            within(
                STALLED_PUBLISH_WITHIN,
                "publishing to a slow broker",
                publisher.publish(&event(order, EventType::Created)),
            )
            .await
            .expect("a slow broker is still a broker");
            latencies.push(started.elapsed());
        }
        proxy.slow_down(Duration::ZERO);
        let on_topic = [
            copies(&broker, &topic, "o-1").await,
            copies(&broker, &topic, "o-2").await,
        ];
        figures::report(
            "producer, slow broker answers",
            format!(
            "broker responses {DELAY:?} late: publishes took {latencies:.1?}, copies on the topic \
             {on_topic:?}, {} reset(s)",
            proxy.resets()
            ),
        );
        assert!(
            latencies.iter().all(|took| *took >= DELAY),
            "the proxy slowed every publish: {latencies:?}"
        );
        assert_eq!(on_topic, [1, 1]);
    })
    .await;
}

/// The broker appends the record and its produce response is held past the delivery timeout: a
/// broker that accepts and never answers. The publish fails retryably in time (an API function
/// answers 503 instead of hanging until API Gateway gives up); once the response is released,
/// publishing works again, through the same producer or its replacement.
#[tokio::test]
async fn a_produce_response_held_past_the_delivery_timeout_fails_in_time_and_publishing_recovers() {
    within(TEST_LIMIT, "the whole test", async {
        let ProxiedTopic {
            broker,
            proxy,
            topic,
            publisher,
        } = proxied_publisher().await;
        settle(&proxy).await;
        proxy.hold_response(proxy.responses());
        let started = Instant::now();
        let err = within(
            STALLED_PUBLISH_WITHIN,
            "publishing to a stalled broker",
            publisher.publish(&event("o-1", EventType::Created)),
        )
        .await
        .expect_err("the broker never answered");
        let took = started.elapsed();
        assert!(err.is_retryable(), "{err:?}");
        assert!(
            proxy.wait_for_held(Duration::ZERO).await,
            "the stall was the held response"
        );
        proxy.release();

        // A client honouring Retry-After tries again; within a few attempts the publish goes
        // through.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut failures = Vec::new();
        loop {
            let attempt = within(
                STALLED_PUBLISH_WITHIN,
                "publishing after the release",
                publisher.publish(&event("o-2", EventType::Created)),
            )
            .await;
            match attempt {
                Ok(()) => break,
                Err(err) => failures.push(format!("{err:?}")),
            }
            assert!(
                Instant::now() < deadline,
                "still failing 30 s after the release ({} producer(s) replaced): {failures:#?}",
                publisher.replacements()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let on_topic = [
            copies(&broker, &topic, "o-1").await,
            copies(&broker, &topic, "o-2").await,
        ];
        figures::report(
            "producer, a held produce answer",
            format!(
                "publish failed after {took:.1?}; after the release {} failed \
                 publish(es), {} producer(s) replaced; copies of the failed and the next record on the \
                 topic {on_topic:?}",
                failures.len(),
                publisher.replacements()
            ),
        );
        assert!(took < STALLED_PUBLISH_WITHIN, "failed after {took:?}");
        assert!(
            took >= KafkaConfig::DEFAULT_DELIVERY_TIMEOUT - Duration::from_millis(500),
            "failed by the delivery timeout, not at once: {took:?}"
        );
        assert_eq!(on_topic[1], 1, "the publish after the release landed once");
    })
    .await;
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
