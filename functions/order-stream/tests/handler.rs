//! The handler against the local broker, with batches built as the DynamoDB Streams event source
//! mapping delivers them: the images are the items `DynamoStore` writes, in DynamoDB JSON, and a
//! redelivery starts at the record the previous invocation reported, as Lambda resumes a shard.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use order_stream::{HandlerError, config, handle};
use orderflow_adapters::dynamodb::stream::{Image, StreamBatchResponse, order_image};
use orderflow_adapters::kafka::{KafkaPublisher, raw_record};
use orderflow_domain::consumer;
use orderflow_domain::ports::EventPublisher;
use orderflow_domain::testing::RecordingPublisher;
use orderflow_testing::broker::PrivateBroker;
use orderflow_testing::figures;
use orderflow_testing::local::{self, TEST_LIMIT, within};
use orderflow_types::{
    CancelReason, EventId, EventType, Order, OrderEvent, OrderId, OrderLine, OrderStatus,
    ProductId, Quantity, Timestamp, UserId, time,
};
use rdkafka::message::OwnedMessage;
use serde_json::{Value, json};

const STREAM_ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/orderflow-local-orders/stream/2026-11-25T00:00:00.000";

fn at(text: &str) -> Timestamp {
    time::parse(text).expect("a timestamp")
}

/// A PENDING order placed at 20:00:00.125, due half an hour later.
fn pending(id: &str) -> Order {
    let line = OrderLine {
        product_id: ProductId::parse("sku-tea").expect("a product id"),
        quantity: Quantity::new(2).expect("a quantity"),
        unit_price_cents: 900,
    };
    Order::new_pending(
        OrderId::parse(id).expect("an order id"),
        UserId::parse("auth0|alice").expect("a user id"),
        vec![line],
        at("2026-11-25T20:00:00.125Z"),
        at("2026-11-25T20:30:00.125Z"),
    )
}

/// `pending(id)` paid at 20:07:00.250.
fn paid(id: &str) -> Order {
    Order {
        status: OrderStatus::Paid,
        updated_at: at("2026-11-25T20:07:00.250Z"),
        ..pending(id)
    }
}

/// `pending(id)` cancelled at 20:30:01.500.
fn cancelled(id: &str, reason: CancelReason) -> Order {
    Order {
        status: OrderStatus::Cancelled,
        cancel_reason: Some(reason),
        updated_at: at("2026-11-25T20:30:01.500Z"),
        ..pending(id)
    }
}

fn image(order: &Order) -> Image {
    order_image(order).expect("an order has a DynamoDB JSON image")
}

/// The records of one shard, numbered as DynamoDB Streams numbers them: increasing sequence
/// numbers.
#[derive(Clone, Default)]
struct Batch {
    records: Vec<Value>,
}

impl Batch {
    fn insert(self, new: &Order) -> Self {
        self.record("INSERT", &new.order_id, None, Some(image(new)))
    }

    fn modify(self, old: &Order, new: &Order) -> Self {
        self.record("MODIFY", &new.order_id, Some(image(old)), Some(image(new)))
    }

    fn remove(self, old: &Order) -> Self {
        self.record("REMOVE", &old.order_id, Some(image(old)), None)
    }

    fn record(
        mut self,
        event_name: &str,
        order_id: &OrderId,
        old: Option<Image>,
        new: Option<Image>,
    ) -> Self {
        let position = self.records.len() as u128;
        let mut data = json!({
            "ApproximateCreationDateTime": 1_795_636_800,
            "Keys": {"order_id": {"S": order_id.as_str()}},
            "SequenceNumber": (4_421_584_500_000_000_017_450_439_091_u128 + position).to_string(),
            "SizeBytes": 240,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(old) = old {
            data["OldImage"] = Value::Object(old);
        }
        if let Some(new) = new {
            data["NewImage"] = Value::Object(new);
        }
        self.records.push(json!({
            "eventID": format!("{position:032x}"),
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "eventSourceARN": STREAM_ARN,
            "dynamodb": data,
        }));
        self
    }

    fn sequence_number(&self, position: usize) -> String {
        self.records[position]["dynamodb"]["SequenceNumber"]
            .as_str()
            .expect("a sequence number")
            .to_owned()
    }

    /// The records Lambda delivers again after `response`: from the record it names on.
    fn redelivered_after(&self, response: &StreamBatchResponse) -> Batch {
        let [failure] = response.batch_item_failures.as_slice() else {
            panic!("one record reported: {response:?}");
        };
        let from = (0..self.records.len())
            .find(|&position| self.sequence_number(position) == failure.item_identifier)
            .unwrap_or_else(|| panic!("{} is no record of the batch", failure.item_identifier));
        Batch {
            records: self.records[from..].to_vec(),
        }
    }

    fn invocation(&self) -> LambdaEvent<Value> {
        LambdaEvent::new(json!({ "Records": self.records }), Context::default())
    }
}

fn all_done() -> StreamBatchResponse {
    StreamBatchResponse::default()
}

fn resume_at(sequence_number: &str) -> StreamBatchResponse {
    StreamBatchResponse::resume_at(Some(sequence_number))
}

/// An event as the consumer must read it, stated literally.
fn event(order: &str, event_type: EventType, event_id: &str, occurred_at: &str) -> OrderEvent {
    OrderEvent {
        order_id: OrderId::parse(order).expect("an order id"),
        user_id: UserId::parse("auth0|alice").expect("a user id"),
        event_type,
        event_id: Some(EventId::parse(event_id).expect("an event id")),
        occurred_at: Some(at(occurred_at)),
    }
}

/// Every record on `topic` of the local broker as (key, event), the event read the way the
/// consumer reads it; in partition then offset order, so one order's events in publishing order.
async fn published(topic: &str) -> Vec<(String, OrderEvent)> {
    read(local::read_topic(topic).await)
}

fn read(messages: Vec<OwnedMessage>) -> Vec<(String, OrderEvent)> {
    messages
        .iter()
        .map(|message| {
            let record = raw_record(message);
            let key = String::from_utf8(record.key.clone().expect("a key")).expect("UTF-8");
            let event = consumer::parse(&record)
                .unwrap_or_else(|err| panic!("the consumer cannot read {record:?}: {err}"));
            (key, event)
        })
        .collect()
}

/// The event types of each order, in the order they are on the topic.
fn per_order(records: &[(String, OrderEvent)]) -> BTreeMap<String, Vec<EventType>> {
    let mut orders: BTreeMap<String, Vec<EventType>> = BTreeMap::new();
    for (_, event) in records {
        orders
            .entry(event.order_id.to_string())
            .or_default()
            .push(event.event_type);
    }
    orders
}

fn by_event_id(mut records: Vec<(String, OrderEvent)>) -> Vec<(String, OrderEvent)> {
    records.sort_by(|(_, a), (_, b)| a.event_id.cmp(&b.event_id));
    records
}

async fn local_publisher(partitions: i32) -> (String, KafkaPublisher) {
    let topic = local::fresh_topic(partitions).await;
    let publisher =
        KafkaPublisher::connect(&local::kafka_config(), None, topic.clone()).expect("a producer");
    (topic, publisher)
}

#[tokio::test]
async fn each_transition_is_published_once_keyed_by_its_order_with_a_deterministic_id() {
    let (topic, publisher) = local_publisher(3).await;
    let batch = Batch::default()
        .insert(&pending("o-a"))
        .modify(&pending("o-a"), &paid("o-a"))
        .insert(&pending("o-b"))
        .modify(&pending("o-b"), &cancelled("o-b", CancelReason::Customer))
        .insert(&pending("o-c"))
        .modify(
            &pending("o-c"),
            &cancelled("o-c", CancelReason::PaymentTimeout),
        );
    let response = handle(&publisher, batch.invocation())
        .await
        .expect("handled");
    assert_eq!(
        serde_json::to_value(&response).expect("JSON"),
        json!({"batchItemFailures": []})
    );

    let created_at = "2026-11-25T20:00:00.125Z";
    let (paid_at, cancelled_at) = ("2026-11-25T20:07:00.250Z", "2026-11-25T20:30:01.500Z");
    assert_eq!(
        by_event_id(published(&topic).await),
        [
            ("o-a", EventType::Created, "o-a.created", created_at),
            ("o-a", EventType::Paid, "o-a.paid", paid_at),
            ("o-b", EventType::Cancelled, "o-b.cancelled", cancelled_at),
            ("o-b", EventType::Created, "o-b.created", created_at),
            ("o-c", EventType::Cancelled, "o-c.cancelled", cancelled_at),
            ("o-c", EventType::Created, "o-c.created", created_at),
        ]
        .map(|(order, event_type, id, occurred_at)| (
            order.to_owned(),
            event(order, event_type, id, occurred_at)
        ))
    );
}

#[tokio::test]
async fn changes_that_are_no_status_transition_publish_nothing() {
    let (topic, publisher) = local_publisher(1).await;
    let touched = Order {
        updated_at: at("2026-11-25T20:01:00Z"),
        ..pending("o-a")
    };
    let timed_out = cancelled("o-a", CancelReason::PaymentTimeout);
    let batch = Batch::default()
        .modify(&pending("o-a"), &touched)
        .modify(&paid("o-a"), &paid("o-a"))
        .modify(&paid("o-a"), &timed_out)
        .remove(&timed_out)
        .insert(&paid("o-b"))
        .insert(&cancelled("o-c", CancelReason::Customer));
    let response = handle(&publisher, batch.invocation())
        .await
        .expect("handled");
    assert_eq!(response, all_done());
    assert_eq!(published(&topic).await, []);
}

#[tokio::test]
async fn a_batch_of_many_orders_keeps_each_orders_events_in_order_on_the_topic() {
    let (topic, publisher) = local_publisher(3).await;
    let orders = ["o-1", "o-2", "o-3", "o-4", "o-5", "o-6"];
    let mut batch = Batch::default();
    for order in orders {
        batch = batch.insert(&pending(order));
    }
    for (n, order) in orders.iter().enumerate().rev() {
        let after = if n % 2 == 0 {
            paid(order)
        } else {
            cancelled(order, CancelReason::Customer)
        };
        batch = batch.modify(&pending(order), &after);
    }
    let response = handle(&publisher, batch.invocation())
        .await
        .expect("handled");
    assert_eq!(response, all_done());

    let records = published(&topic).await;
    assert!(
        records
            .iter()
            .all(|(key, event)| key == event.order_id.as_str()),
        "every record is keyed by its order"
    );
    use EventType::{Cancelled, Created, Paid};
    assert_eq!(
        per_order(&records),
        BTreeMap::from([
            ("o-1".into(), vec![Created, Paid]),
            ("o-2".into(), vec![Created, Cancelled]),
            ("o-3".into(), vec![Created, Paid]),
            ("o-4".into(), vec![Created, Cancelled]),
            ("o-5".into(), vec![Created, Paid]),
            ("o-6".into(), vec![Created, Cancelled]),
        ])
    );
}

#[tokio::test]
async fn an_undecodable_record_is_the_reported_failure_and_nothing_after_it_of_its_order_is_published()
 {
    let (topic, publisher) = local_publisher(1).await;
    let mut shipped = image(&pending("o-2"));
    shipped.insert("status".into(), json!({"S": "SHIPPED"}));
    let batch = Batch::default()
        .insert(&pending("o-1"))
        .record("INSERT", &pending("o-2").order_id, None, Some(shipped))
        .modify(&pending("o-2"), &paid("o-2"))
        .modify(&pending("o-1"), &paid("o-1"))
        .record("INSERT", &pending("o-3").order_id, None, None);
    let response = handle(&publisher, batch.invocation())
        .await
        .expect("a partial batch response, not a failed invocation");
    assert_eq!(response, resume_at(&batch.sequence_number(1)));
    assert_eq!(
        per_order(&published(&topic).await),
        BTreeMap::from([("o-1".into(), vec![EventType::Created, EventType::Paid])]),
        "o-1 goes on; o-2 stops at its undecodable record, and o-3's record fails too"
    );

    // Lambda resumes at the reported record: it fails again, and o-1's payment, after it in the
    // shard, is published again under the same id.
    let redelivered = batch.redelivered_after(&response);
    let response = handle(&publisher, redelivered.invocation())
        .await
        .expect("handled");
    assert_eq!(response, resume_at(&batch.sequence_number(1)));
    let ids: Vec<String> = published(&topic)
        .await
        .iter()
        .map(|(_, event)| event.event_id.as_ref().expect("an id").to_string())
        .collect();
    assert_eq!(ids, ["o-1.created", "o-1.paid", "o-1.paid"]);
}

#[tokio::test]
async fn a_redelivered_batch_publishes_the_same_events_with_the_same_ids() {
    let (topic, publisher) = local_publisher(1).await;
    let batch = Batch::default()
        .insert(&pending("o-a"))
        .modify(&pending("o-a"), &paid("o-a"))
        .modify(&pending("o-b"), &cancelled("o-b", CancelReason::Customer));
    for _ in 0..2 {
        let response = handle(&publisher, batch.invocation())
            .await
            .expect("handled");
        assert_eq!(response, all_done());
    }
    let records = by_event_id(published(&topic).await);
    let ids: Vec<&str> = records
        .iter()
        .map(|(_, event)| event.event_id.as_ref().expect("an id").as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "o-a.created",
            "o-a.created",
            "o-a.paid",
            "o-a.paid",
            "o-b.cancelled",
            "o-b.cancelled"
        ]
    );
    for pair in records.chunks(2) {
        assert_eq!(pair[0], pair[1], "a redelivered event is the same event");
    }
}

#[tokio::test]
async fn an_invocation_that_is_no_stream_event_fails_and_publishes_nothing() {
    let recorder = RecordingPublisher::default();
    let fixture = |name: &str| -> Value {
        let path = format!(
            "{}/../../tests/fixtures/events/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON")
    };
    for payload in [
        json!({}),
        json!({"Records": [{"messageId": "1", "body": "{}", "eventSource": "aws:sqs"}]}),
        fixture("payment-timeout.json"),
        fixture("msk-event-aws-sample.json"),
    ] {
        let err = handle(&recorder, LambdaEvent::new(payload, Context::default()))
            .await
            .unwrap_err();
        assert!(matches!(err, HandlerError::NotAStreamEvent(_)), "{err:?}");
        assert_eq!(Diagnostic::from(err).error_type, "NotAStreamEvent");
    }
    assert!(recorder.events().is_empty());
    let response = handle(
        &recorder,
        LambdaEvent::new(json!({"Records": []}), Context::default()),
    )
    .await
    .expect("an empty batch is a stream event");
    assert_eq!(response, all_done());
}

#[test]
fn configuration_reads_the_brokers_and_the_topic() {
    let err = config::from_vars(|_| None).unwrap_err();
    assert_eq!(err.to_string(), "KAFKA_BOOTSTRAP_SERVERS is not set");
    let settings = config::from_vars(|name| {
        (name == "KAFKA_BOOTSTRAP_SERVERS").then(|| "127.0.0.1:9092".into())
    })
    .expect("settings");
    assert_eq!(
        (settings.topic.as_str(), settings.kafka.client_id.as_str()),
        ("order-events", "order-stream")
    );
}

/// The function's publisher, noting the id of every event it is asked to publish.
struct Attempts<P> {
    inner: P,
    ids: Mutex<Vec<String>>,
}

impl<P> Attempts<P> {
    /// The ids noted since the last call.
    fn take(&self) -> Vec<String> {
        let mut ids = std::mem::take(&mut *self.ids.lock().expect("not poisoned"));
        ids.sort();
        ids
    }
}

impl<P: EventPublisher> EventPublisher for Attempts<P> {
    async fn publish(&self, event: &OrderEvent) -> orderflow_domain::Result<()> {
        let id = event.event_id.as_ref().expect("an id").to_string();
        self.ids.lock().expect("not poisoned").push(id);
        self.inner.publish(event).await
    }
}

/// A broker that stops answering (a private tansu frozen with SIGSTOP) while a batch is
/// published: every publish fails after the delivery timeout, the earliest failed record is
/// reported, and the later records of its order are not attempted. After the broker is back, the
/// redelivery from the reported record publishes the rest, and every order's events stay in order.
#[tokio::test]
async fn a_broker_that_does_not_answer_is_reported_at_the_earliest_record_and_the_redelivery_completes()
 {
    within(TEST_LIMIT, "the whole test", async {
        let broker = PrivateBroker::start().await;
        let topic = local::fresh_topic_on(&broker.kafka_config(), 1).await;
        let publisher = Attempts {
            inner: KafkaPublisher::connect(&broker.kafka_config(), None, topic.clone())
                .expect("a producer"),
            ids: Mutex::default(),
        };
        let warm = Batch::default().insert(&pending("o-0"));
        let response = handle(&publisher, warm.invocation())
            .await
            .expect("handled");
        assert_eq!(response, all_done(), "a first batch connects the producer");
        publisher.take();

        broker.freeze();
        let batch = Batch::default()
            .insert(&pending("o-1"))
            .modify(&pending("o-1"), &paid("o-1"))
            .insert(&pending("o-2"));
        let started = Instant::now();
        let response = within(
            Duration::from_secs(20),
            "an invocation",
            handle(&publisher, batch.invocation()),
        )
        .await
        .expect("a partial batch response, not a failed invocation");
        let failed_after = started.elapsed();
        assert_eq!(response, resume_at(&batch.sequence_number(0)));
        assert!(
            failed_after < Duration::from_secs(10),
            "answered after {failed_after:?}: the publishes of both orders ran at once"
        );
        assert_eq!(
            publisher.take(),
            ["o-1.created", "o-2.created"],
            "o-1's payment is not attempted after its creation failed"
        );

        broker.thaw();
        // A producer the stall left fenced is replaced after the publish that meets it fails, so
        // a redelivery may fail once more before one completes.
        let mut pending_batch = batch.redelivered_after(&response);
        let mut redeliveries = 0;
        loop {
            redeliveries += 1;
            let response = handle(&publisher, pending_batch.invocation())
                .await
                .expect("handled");
            if response == all_done() {
                break;
            }
            assert!(
                redeliveries < 3,
                "still failing after {redeliveries} redeliveries"
            );
            pending_batch = pending_batch.redelivered_after(&response);
        }

        let records = read(broker.read_topic(&topic).await);
        let orders = per_order(&records);
        let o1 = &orders["o-1"];
        let first_paid = o1.iter().position(|&t| t == EventType::Paid);
        let last_created = o1.iter().rposition(|&t| t == EventType::Created);
        assert!(
            matches!((last_created, first_paid), (Some(c), Some(p)) if c < p),
            "o-1's events out of order: {o1:?}"
        );
        let mut distinct: Vec<String> = records
            .iter()
            .map(|(_, event)| event.event_id.as_ref().expect("an id").to_string())
            .collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct,
            ["o-0.created", "o-1.created", "o-1.paid", "o-2.created"]
        );
        figures::report(
            "order-stream with a frozen broker",
            format!(
                "batch of 3 records for 2 orders: earliest record reported after \
                 {failed_after:.1?}, o-1's payment not attempted; completed by redelivery \
                 {redeliveries}; {} records on the topic for 4 events (at least once)",
                records.len()
            ),
        );
    })
    .await;
}
