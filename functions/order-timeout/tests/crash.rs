//! The order-timeout binary killed with SIGKILL after its publish and before Lambda accepted its
//! answer, then invoked again on a fresh process, as the Scheduler's asynchronous invocation is
//! retried: the `timeout` is on the topic twice (at least once), and consuming both changes the
//! order once.
//!
//! The process runs against a local Lambda Runtime API (`orderflow_testing::runtime`) and the
//! local broker. This function calls no AWS API, so its only crash point is between the publish
//! and the answer; the consumer's half runs on the in-memory fakes, since these tests build
//! without the DynamoDB SDK (order-events' `consumer.rs` applies the same redelivery to DynamoDB).

use std::time::Duration;

use orderflow_adapters::kafka::raw_record;
use orderflow_domain::consumer::{EventConsumer, Incoming};
use orderflow_domain::ports::{NotificationStore, OrderStore, PageRequest, ProductStore};
use orderflow_domain::testing::{FakeConsumer, FixedClock, InMemoryStore, RecordingDeadLetters};
use orderflow_testing::figures;
use orderflow_testing::local;
use orderflow_testing::runtime::{Outcome, RuntimeApi};
use orderflow_types::{
    EventType, Order, OrderEvent, OrderId, OrderLine, OrderStatus, Product, ProductId, Quantity,
    UserId,
};
use rdkafka::Message;

/// Every wait of the test is bounded by this: a hung process fails the test, it does not hold it.
const WITHIN: Duration = Duration::from_secs(20);

#[tokio::test]
async fn killed_after_publishing_a_retried_timeout_is_published_twice_and_applied_once() {
    let topic = local::fresh_topic(3).await;
    let runtime = RuntimeApi::start("order-timeout", Duration::from_secs(15)).await;
    let bootstrap = local::kafka_bootstrap_servers();
    let env = [
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()),
        ("ORDER_EVENTS_TOPIC", topic.as_str()),
    ];
    let now = chrono::Utc::now();
    let payload = serde_json::json!({
        "order_id": "o-crash",
        "user_id": "u-crash",
        "payment_due_at": orderflow_types::time::format(&(now - chrono::Duration::seconds(1))),
    })
    .to_string();

    // First attempt: the function publishes, then dies before Lambda accepts its answer.
    let mut first = runtime.spawn(env!("CARGO_BIN_EXE_order-timeout"), &env);
    runtime.hold_responses();
    let invocation = runtime.invoke(payload.clone());
    assert!(
        runtime.wait_for_held(WITHIN).await,
        "the function never answered; its log ({}):\n{}",
        first.log_path().display(),
        first.log()
    );
    let published = tokio::time::timeout(WITHIN, local::read_topic(&topic))
        .await
        .expect("reading the topic in time");
    assert_eq!(published.len(), 1, "published before the crash");
    first.kill();
    assert_eq!(invocation.outcome(WITHIN).await, Outcome::ProcessDied);
    runtime.release();

    // The retry, on a new execution environment.
    let second = runtime.spawn(env!("CARGO_BIN_EXE_order-timeout"), &env);
    let retried = runtime.invoke(payload);
    let outcome = retried.outcome(WITHIN).await;
    assert!(
        matches!(outcome, Outcome::Response(_)),
        "{outcome:?}; log:\n{}",
        second.log()
    );

    let records = tokio::time::timeout(WITHIN, local::read_topic(&topic))
        .await
        .expect("reading the topic in time");
    assert_eq!(records.len(), 2, "at least once: the retry published again");
    let events: Vec<OrderEvent> = records
        .iter()
        .map(|record| {
            serde_json::from_slice(record.payload().expect("a value")).expect("an order event")
        })
        .collect();
    for (record, event) in records.iter().zip(&events) {
        assert_eq!(record.key(), Some(&b"o-crash"[..]), "keyed by order");
        assert_eq!(
            (
                event.order_id.as_str(),
                event.user_id.as_str(),
                event.event_type
            ),
            ("o-crash", "u-crash", EventType::Timeout)
        );
    }
    assert_eq!(
        records[0].partition(),
        records[1].partition(),
        "both on the order's partition, in order"
    );
    // Each invocation announces the deadline anew: the two events are the same announcement
    // under two event ids, which the consumer tells apart by the order's state, not by id.
    assert_ne!(events[0].event_id, events[1].event_id);

    // Both records consumed, as order-events does: the order is cancelled, its stock returned
    // and its owner notified, once.
    let consumer = consumer_with_pending_order(now).await;
    let outcome = consumer
        .process_batch(vec![(
            "order-events-0".into(),
            records
                .iter()
                .map(|record| Incoming {
                    record: raw_record(record),
                    defect: None,
                })
                .collect(),
        )])
        .await;
    assert_eq!((outcome.done, outcome.dead_lettered), (2, 0), "{outcome:?}");
    let order = consumer
        .store
        .get_order(&OrderId::parse("o-crash").expect("id"))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(order.status, OrderStatus::Cancelled);
    let stock = consumer
        .store
        .get_product(&ProductId::parse("p-1").expect("id"))
        .await
        .expect("read")
        .expect("exists")
        .stock;
    assert_eq!(stock, 10, "returned once");
    let notices = consumer
        .store
        .list_notifications(
            &UserId::parse("u-crash").expect("id"),
            &PageRequest::default(),
        )
        .await
        .expect("list");
    assert_eq!(notices.items.len(), 1, "notified once");
    figures::report(
        "order-timeout crash",
        format!(
            "1 crash point (after the publish), 1 process killed, {} invocations \
             handed out, {} answered; 2 timeout records for the order, applied once (stock {stock}, \
             {} notification)",
            runtime.handed_out(),
            runtime.answered(),
            notices.items.len()
        ),
    );
}

/// The consumer on the in-memory fakes, holding order `o-crash` PENDING with 3 of the 10 units of
/// `p-1`, due at `due_at`.
async fn consumer_with_pending_order(
    due_at: chrono::DateTime<chrono::Utc>,
) -> EventConsumer<FakeConsumer> {
    let consumer: EventConsumer<FakeConsumer> = EventConsumer {
        store: InMemoryStore::default(),
        dead_letters: RecordingDeadLetters::default(),
        clock: FixedClock::at(due_at + chrono::Duration::seconds(5)),
    };
    let product = ProductId::parse("p-1").expect("id");
    consumer
        .store
        .put_product(&Product {
            product_id: product.clone(),
            name: "P".into(),
            price_cents: 100,
            stock: 10,
        })
        .await
        .expect("product");
    let order = Order::new_pending(
        OrderId::parse("o-crash").expect("id"),
        UserId::parse("u-crash").expect("id"),
        vec![OrderLine {
            product_id: product,
            quantity: Quantity::new(3).expect("quantity"),
            unit_price_cents: 100,
        }],
        due_at - chrono::Duration::minutes(30),
        due_at,
    );
    consumer.store.place_order(&order).await.expect("placed");
    consumer
}
