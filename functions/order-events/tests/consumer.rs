//! order-events against the real local services: events are produced to the broker, read back and
//! wrapped into `KafkaEvent` batches exactly as the MSK event source mapping does, then handled
//! with the DynamoDB store and the Kafka producer.

use std::collections::BTreeMap;

use aws_lambda_events::event::kafka::KafkaEvent;
use lambda_runtime::{Context, LambdaEvent};
use order_events::{AwsConsumer, Deps, handle};
use orderflow_adapters::dynamodb::DynamoStore;
use orderflow_adapters::dynamodb::schema::TableNames;
use orderflow_adapters::kafka::{KafkaDeadLetters, KafkaPublisher, raw_record};
use orderflow_adapters::msk::{KafkaBatchResponse, KafkaEventBuilder, partition_key};
use orderflow_adapters::system::SystemClock;
use orderflow_adapters::{AWS_ATTEMPT_TIMEOUT, AWS_OPERATION_TIMEOUT};
use orderflow_domain::consumer::EventConsumer;
use orderflow_domain::ports::{
    EventPublisher, NotificationStore, OrderStore, PageRequest, ProductStore, RawRecord, SalesStore,
};
use orderflow_testing::figures;
use orderflow_testing::local;
use orderflow_testing::proxy::FaultProxy;
use orderflow_testing::stall::StalledEndpoint;
use orderflow_types::{
    EventType, Order, OrderEvent, OrderId, OrderLine, OrderStatus, Product, ProductId, Quantity,
    UserId,
};
use rdkafka::Message;
use rdkafka::message::{Header, OwnedHeaders};

const PRODUCTS: [(&str, u64); 3] = [("sku-a", 10), ("sku-b", 5), ("sku-c", 50)];

/// A fresh stack: tables with the products above, an event topic and a dead-letter topic.
struct Stack {
    store: DynamoStore,
    tables: TableNames,
    topic: String,
    dead_letter_topic: String,
    publisher: KafkaPublisher,
}

impl Stack {
    async fn new(partitions: i32) -> Self {
        let tables = local::fresh_tables().await;
        let store = DynamoStore::new(local::dynamodb_client().await, &tables);
        for (id, stock) in PRODUCTS {
            let product = Product {
                product_id: sku(id),
                name: id.into(),
                price_cents: 100,
                stock,
            };
            store.put_product(&product).await.expect("product");
        }
        let topic = local::fresh_topic(partitions).await;
        let dead_letter_topic = local::fresh_topic(1).await;
        let publisher =
            KafkaPublisher::connect(&local::kafka_config(), None, topic.clone()).expect("producer");
        Self {
            store,
            tables,
            topic,
            dead_letter_topic,
            publisher,
        }
    }

    fn deps(&self, store: DynamoStore, report_batch_item_failures: bool) -> Deps<AwsConsumer> {
        let dead_letters =
            KafkaDeadLetters::new(self.publisher.clone(), self.dead_letter_topic.clone());
        Deps {
            consumer: EventConsumer {
                store,
                dead_letters,
                clock: SystemClock,
            },
            report_batch_item_failures,
        }
    }

    /// A PENDING order holding `lines` (product, units), placed 30 minutes ago: its payment is
    /// due now, so that its timeout applies.
    async fn place(&self, id: &str, lines: &[(&str, u32)]) -> Order {
        let now = chrono::Utc::now();
        let lines = lines
            .iter()
            .map(|&(product, units)| OrderLine {
                product_id: sku(product),
                quantity: Quantity::new(u64::from(units)).expect("quantity"),
                unit_price_cents: 100,
            })
            .collect();
        let order = Order::new_pending(
            order_id(id),
            user(),
            lines,
            now - chrono::Duration::minutes(30),
            now,
        );
        self.store.place_order(&order).await.expect("placed");
        order
    }

    async fn publish(&self, id: &str, event_type: EventType) {
        let event = OrderEvent::new(order_id(id), user(), event_type, chrono::Utc::now());
        self.publisher.publish(&event).await.expect("published");
    }

    async fn stock(&self, id: &str) -> u64 {
        self.store
            .get_product(&sku(id))
            .await
            .expect("get")
            .expect("exists")
            .stock
    }

    async fn status(&self, id: &str) -> OrderStatus {
        self.store
            .get_order(&order_id(id))
            .await
            .expect("get")
            .expect("exists")
            .status
    }

    /// For every product: initial stock = current stock + units held by PENDING and PAID orders.
    async fn assert_stock_conserved(&self, orders: &[&str]) {
        let mut held: BTreeMap<String, u64> = BTreeMap::new();
        for id in orders {
            let order = self
                .store
                .get_order(&order_id(id))
                .await
                .expect("get")
                .expect("exists");
            if order.status != OrderStatus::Cancelled {
                for line in &order.lines {
                    *held.entry(line.product_id.to_string()).or_default() +=
                        u64::from(line.quantity.get());
                }
            }
        }
        for (id, initial) in PRODUCTS {
            let current = self.stock(id).await;
            let held = held.get(id).copied().unwrap_or(0);
            assert_eq!(
                current + held,
                initial,
                "{id}: stock {current} + held {held} != initial {initial}"
            );
        }
    }
}

fn sku(id: &str) -> ProductId {
    ProductId::parse(id).expect("valid id")
}

fn order_id(id: &str) -> OrderId {
    OrderId::parse(id).expect("valid id")
}

fn user() -> UserId {
    UserId::parse("user-1").expect("valid id")
}

/// Every record of `topic`, read to its end offsets, as the raw records they are, with their
/// timestamps; there must be at least `count`.
async fn read(topic: &str, count: usize) -> Vec<(RawRecord, i64)> {
    let records: Vec<_> = local::read_topic(topic)
        .await
        .into_iter()
        .map(|message| {
            let timestamp = message.timestamp().to_millis().unwrap_or_default();
            (raw_record(&message), timestamp)
        })
        .collect();
    assert!(
        records.len() >= count,
        "{} of {count} records are on {topic}",
        records.len()
    );
    records
}

/// The event source mapping's batch of `records`.
fn batch(records: &[(RawRecord, i64)]) -> KafkaEvent {
    records
        .iter()
        .fold(
            KafkaEventBuilder::new(
                "arn:aws:kafka:us-east-1:123456789012:cluster/orderflow/1",
                &local::kafka_bootstrap_servers(),
            ),
            |builder, (record, timestamp)| builder.record(record, *timestamp),
        )
        .build()
}

fn invocation(event: KafkaEvent) -> LambdaEvent<KafkaEvent> {
    LambdaEvent::new(event, Context::default())
}

fn event_types(records: &[(RawRecord, i64)]) -> Vec<(String, EventType)> {
    records
        .iter()
        .map(|(raw, _)| {
            let event: OrderEvent =
                serde_json::from_slice(raw.value.as_deref().expect("value")).expect("event");
            (event.order_id.to_string(), event.event_type)
        })
        .collect()
}

#[tokio::test]
async fn a_timeout_cancels_a_pending_order_exactly_once_when_delivered_three_times() {
    let stack = Stack::new(3).await;
    let deps = stack.deps(stack.store.clone(), true);
    stack.place("o-1", &[("sku-a", 3), ("sku-b", 5)]).await;
    stack.publish("o-1", EventType::Timeout).await;
    let records = read(&stack.topic, 1).await;

    for _ in 0..3 {
        let response = handle(&deps, invocation(batch(&records)))
            .await
            .expect("handled");
        assert_eq!(response, KafkaBatchResponse::default());
    }
    assert_eq!(stack.status("o-1").await, OrderStatus::Cancelled);
    assert_eq!(
        (stack.stock("sku-a").await, stack.stock("sku-b").await),
        (10, 5)
    );
    stack.assert_stock_conserved(&["o-1"]).await;
    let notices = stack
        .store
        .list_notifications(&user(), &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(notices.items.len(), 1, "{notices:?}");
    assert!(notices.items[0].message.contains("not paid in time"));

    // The consumer publishes nothing: order-stream announces the cancellation from the orders
    // table's stream. That `cancelled` event, delivered twice, notifies nobody twice.
    assert_eq!(read(&stack.topic, 1).await, records, "only the timeout");
    stack.publish("o-1", EventType::Cancelled).await;
    let cancellations: Vec<_> = read(&stack.topic, 2).await.split_off(1);
    for _ in 0..2 {
        handle(&deps, invocation(batch(&cancellations)))
            .await
            .expect("handled");
    }
    let notices = stack
        .store
        .list_notifications(&user(), &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(notices.items.len(), 1);
}

#[tokio::test]
async fn a_timeout_after_payment_changes_nothing() {
    let stack = Stack::new(1).await;
    let deps = stack.deps(stack.store.clone(), true);
    stack.place("o-1", &[("sku-a", 4)]).await;
    stack
        .store
        .mark_paid(&order_id("o-1"), chrono::Utc::now())
        .await
        .expect("paid");
    stack.publish("o-1", EventType::Timeout).await;
    let records = read(&stack.topic, 1).await;

    let response = handle(&deps, invocation(batch(&records)))
        .await
        .expect("handled");
    assert_eq!(response, KafkaBatchResponse::default());
    assert_eq!(stack.status("o-1").await, OrderStatus::Paid);
    assert_eq!(stack.stock("sku-a").await, 6);
    stack.assert_stock_conserved(&["o-1"]).await;
    let notices = stack
        .store
        .list_notifications(&user(), &PageRequest::default())
        .await
        .expect("list");
    assert!(notices.items.is_empty());
}

#[tokio::test]
async fn a_redelivered_paid_event_is_counted_once() {
    let stack = Stack::new(1).await;
    let deps = stack.deps(stack.store.clone(), true);
    stack.place("o-1", &[("sku-a", 2), ("sku-c", 3)]).await;
    let paid_at = chrono::Utc::now();
    stack
        .store
        .mark_paid(&order_id("o-1"), paid_at)
        .await
        .expect("paid");
    stack.publish("o-1", EventType::Paid).await;
    let records = read(&stack.topic, 1).await;

    for _ in 0..3 {
        handle(&deps, invocation(batch(&records)))
            .await
            .expect("handled");
    }
    let day = stack
        .store
        .daily_sales(&paid_at.format("%Y-%m-%d").to_string())
        .await
        .expect("daily");
    assert_eq!((day.paid_orders, day.revenue_cents), (1, 500));
    assert_eq!(
        stack
            .store
            .product_sales(&sku("sku-a"))
            .await
            .expect("a")
            .units_sold,
        2
    );
    assert_eq!(
        stack
            .store
            .product_sales(&sku("sku-c"))
            .await
            .expect("c")
            .units_sold,
        3
    );
}

#[tokio::test]
async fn poison_records_go_to_the_dead_letter_topic_and_the_rest_of_the_batch_is_applied() {
    let stack = Stack::new(1).await;
    let deps = stack.deps(stack.store.clone(), true);
    stack.place("o-1", &[("sku-a", 1)]).await;
    stack.publish("o-1", EventType::Created).await;
    let poison: [(&[u8], &[u8], &str); 3] = [
        (b"o-2", b"{not json", "the value is not an order event"),
        (
            b"o-3",
            br#"{"order_id":"o-3","user_id":"user-1","event_type":"shipped"}"#,
            "unknown variant `shipped`",
        ),
        (
            b"o-4",
            br#"{"order_id":"o-4","user_id":"user-1","event_type":"timeout"}"#,
            "order o-4 does not exist",
        ),
    ];
    for (key, value, _) in poison {
        let headers = OwnedHeaders::new().insert(Header {
            key: "trace-id",
            value: Some("abc"),
        });
        stack
            .publisher
            .send(&stack.topic, Some(key), Some(value), headers)
            .await
            .expect("sent");
    }
    stack.publish("o-5", EventType::Created).await;
    let records = read(&stack.topic, 5).await;

    let response = handle(&deps, invocation(batch(&records)))
        .await
        .expect("handled");
    assert_eq!(
        response,
        KafkaBatchResponse::default(),
        "poison never blocks the partition"
    );
    let notices = stack
        .store
        .list_notifications(&user(), &PageRequest::default())
        .await
        .expect("list");
    let mut notified: Vec<String> = notices
        .items
        .iter()
        .map(|n| n.order_id.to_string())
        .collect();
    notified.sort();
    assert_eq!(
        notified,
        ["o-1", "o-5"],
        "the valid records around the poison are applied"
    );

    let dead = read(&stack.dead_letter_topic, 3).await;
    assert_eq!(dead.len(), 3, "each poison record dead-lettered once");
    for ((raw, _), (key, value, reason)) in dead.iter().zip(poison) {
        let source = records
            .iter()
            .find(|(r, _)| r.key.as_deref() == Some(key))
            .expect("source record");
        assert_eq!(raw.key.as_deref(), Some(key));
        assert_eq!(raw.value.as_deref(), Some(value));
        let headers: BTreeMap<&str, String> = raw
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        assert_eq!(headers["trace-id"], "abc", "original headers are kept");
        assert!(headers["dlq-reason"].contains(reason), "{headers:?}");
        assert_eq!(headers["dlq-source-topic"], stack.topic);
        assert_eq!(
            headers["dlq-source-partition"],
            source.0.partition.to_string()
        );
        assert_eq!(headers["dlq-source-offset"], source.0.offset.to_string());
    }
}

#[tokio::test]
async fn a_transient_dynamodb_failure_is_reported_per_partition_and_a_redelivery_completes_it() {
    let stack = Stack::new(3).await;
    let ids = ["o-1", "o-2", "o-3", "o-4", "o-5", "o-6"];
    for id in ids {
        stack.place(id, &[("sku-c", 2)]).await;
        stack.publish(id, EventType::Created).await;
        stack.publish(id, EventType::Timeout).await;
    }
    let records = read(&stack.topic, ids.len() * 2).await;

    let unreachable = aws_sdk_dynamodb::config::Builder::from(local::aws_config().await)
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let broken = DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(unreachable),
        &stack.tables,
    );
    let response = handle(
        &stack.deps(broken.clone(), true),
        invocation(batch(&records)),
    )
    .await
    .expect("handled");
    let mut expected: Vec<(String, i64)> = Vec::new();
    for (raw, _) in &records {
        let key = partition_key(&raw.topic, raw.partition);
        if !expected.iter().any(|(k, _)| *k == key) {
            expected.push((key, raw.offset));
        }
    }
    let mut reported: Vec<(String, i64)> = response
        .batch_item_failures
        .iter()
        .map(|f| {
            (
                f.item_identifier.partition.clone(),
                f.item_identifier.offset,
            )
        })
        .collect();
    reported.sort();
    expected.sort();
    assert_eq!(
        reported, expected,
        "each partition resumes at its first record"
    );
    for id in ids {
        assert_eq!(
            stack.status(id).await,
            OrderStatus::Pending,
            "nothing was applied"
        );
    }

    // The same records, delivered again from where each partition stopped.
    let response = handle(
        &stack.deps(stack.store.clone(), true),
        invocation(batch(&records)),
    )
    .await
    .expect("handled");
    assert_eq!(response, KafkaBatchResponse::default());
    for id in ids {
        assert_eq!(stack.status(id).await, OrderStatus::Cancelled);
    }
    assert_eq!(stack.stock("sku-c").await, 50);
    stack.assert_stock_conserved(&ids).await;

    // Configured without partial batch responses, the same failure fails the invocation.
    let err = handle(&stack.deps(broken, false), invocation(batch(&records)))
        .await
        .unwrap_err();
    assert_eq!(err.partitions, expected.len());
}

#[tokio::test]
async fn a_stalled_dynamodb_stops_each_partition_within_the_timeout_and_reports_it() {
    let stack = Stack::new(3).await;
    let ids = ["o-1", "o-2", "o-3", "o-4", "o-5", "o-6"];
    for id in ids {
        stack.place(id, &[("sku-c", 2)]).await;
        stack.publish(id, EventType::Timeout).await;
    }
    let records = read(&stack.topic, ids.len()).await;
    let partitions: std::collections::BTreeSet<_> = records
        .iter()
        .map(|(raw, _)| partition_key(&raw.topic, raw.partition))
        .collect();

    let stall = StalledEndpoint::start().await;
    let frozen = DynamoStore::new(stall.dynamodb_client().await, &stack.tables);
    let started = std::time::Instant::now();
    let response = handle(&stack.deps(frozen, true), invocation(batch(&records)))
        .await
        .expect("handled");
    let took = started.elapsed();

    // Partitions run concurrently, so the batch takes one operation timeout, not one per
    // partition, and ends long before a function's timeout.
    assert!(
        took < AWS_OPERATION_TIMEOUT + std::time::Duration::from_secs(4),
        "answered after {took:?}"
    );
    assert!(
        stall.connections() > 0,
        "the calls reached the stalled peer"
    );
    let reported: std::collections::BTreeSet<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.partition.clone())
        .collect();
    assert_eq!(reported, partitions, "every partition stopped and reported");
    assert_eq!(response.batch_item_failures.len(), partitions.len());
    figures::report(
        "order-events, a stalled DynamoDB",
        format!("{} partitions reported after {took:.1?}", partitions.len()),
    );
    for id in ids {
        assert_eq!(stack.status(id).await, OrderStatus::Pending);
    }
    stack.assert_stock_conserved(&ids).await;
}

/// Where each partition of `records` resumes when none of them is done: its first record.
fn first_offsets(records: &[(RawRecord, i64)]) -> BTreeMap<String, i64> {
    let mut first = BTreeMap::new();
    for (raw, _) in records {
        first
            .entry(partition_key(&raw.topic, raw.partition))
            .or_insert(raw.offset);
    }
    first
}

/// DynamoDB slow to answer, through a proxy in front of moto. Each response later than usual but
/// within the SDK's attempt timeout only slows the batch down: every timeout is applied. Each
/// response later than the attempt timeout fails every attempt: the batch ends within the
/// operation timeout with every partition reported at its first record (some writes may have
/// landed before their answers were cut off), and the redelivery, once DynamoDB is fast again,
/// applies each timeout once.
#[tokio::test]
async fn a_slow_dynamodb_slows_the_batch_down_or_stops_each_partition_and_redelivery_applies_once()
{
    // However the code under test misbehaves, the test ends.
    tokio::time::timeout(std::time::Duration::from_secs(90), async {
        const SLOW: std::time::Duration = std::time::Duration::from_millis(300);
        const TOO_SLOW: std::time::Duration =
            AWS_ATTEMPT_TIMEOUT.saturating_add(std::time::Duration::from_secs(1));
        let within = AWS_OPERATION_TIMEOUT + std::time::Duration::from_secs(4);
        let stack = Stack::new(3).await;
        let (slow, too_slow) = (["s-1", "s-2", "s-3"], ["t-1", "t-2", "t-3"]);
        for id in slow.iter().chain(&too_slow) {
            stack.place(id, &[("sku-c", 2)]).await;
            stack.publish(id, EventType::Timeout).await;
        }
        let records = read(&stack.topic, slow.len() + too_slow.len()).await;
        let of = |ids: &[&str]| -> Vec<(RawRecord, i64)> {
            records
                .iter()
                .filter(|(raw, _)| {
                    ids.iter()
                        .any(|id| raw.key.as_deref() == Some(id.as_bytes()))
                })
                .cloned()
                .collect()
        };
        let (slow_records, too_slow_records) = (of(&slow), of(&too_slow));
        let proxy = FaultProxy::before_moto().await;
        let proxied =
            DynamoStore::new(local::dynamodb_client_at(&proxy.url()).await, &stack.tables);
        let deps = stack.deps(proxied, true);
        let handled = async |records: &[(RawRecord, i64)]| {
            let started = std::time::Instant::now();
            let response = tokio::time::timeout(within, handle(&deps, invocation(batch(records))))
                .await
                .unwrap_or_else(|_| panic!("the batch took longer than {within:?}"))
                .expect("handled");
            (response, started.elapsed())
        };

        proxy.slow_down(SLOW);
        let (response, slow_took) = handled(&slow_records).await;
        assert_eq!(
            response,
            KafkaBatchResponse::default(),
            "everything applied"
        );
        for id in slow {
            assert_eq!(stack.status(id).await, OrderStatus::Cancelled, "{id}");
        }
        assert!(
            slow_took >= SLOW * 2,
            "the calls were slowed: {slow_took:?}"
        );

        proxy.slow_down(TOO_SLOW);
        let (response, too_slow_took) = handled(&too_slow_records).await;
        proxy.slow_down(std::time::Duration::ZERO);
        let reported: BTreeMap<String, i64> = response
            .batch_item_failures
            .iter()
            .map(|f| {
                (
                    f.item_identifier.partition.clone(),
                    f.item_identifier.offset,
                )
            })
            .collect();
        assert_eq!(
            reported,
            first_offsets(&too_slow_records),
            "each partition resumes at its first record"
        );
        assert_eq!(response.batch_item_failures.len(), reported.len());
        let ids: Vec<&str> = slow.iter().chain(&too_slow).copied().collect();
        stack.assert_stock_conserved(&ids).await;
        let mut landed = 0;
        for id in too_slow {
            if stack.status(id).await == OrderStatus::Cancelled {
                landed += 1;
            }
        }

        let redelivered =
            tokio::time::timeout(within, handle(&deps, invocation(batch(&too_slow_records))))
                .await
                .expect("the redelivery in time")
                .expect("handled");
        assert_eq!(
            redelivered,
            KafkaBatchResponse::default(),
            "everything applied"
        );
        for id in too_slow {
            assert_eq!(stack.status(id).await, OrderStatus::Cancelled, "{id}");
        }
        assert_eq!(stack.stock("sku-c").await, 50, "every unit returned once");
        stack.assert_stock_conserved(&ids).await;
        let notices = stack
            .store
            .list_notifications(&user(), &PageRequest::default())
            .await
            .expect("list");
        assert_eq!(notices.items.len(), ids.len(), "one notice per order");
        figures::report(
            "order-events, a slow DynamoDB",
            format!(
            "DynamoDB {SLOW:?} slow: {} timeouts applied in {slow_took:.1?}; {TOO_SLOW:?} slow: {} \
             partitions reported after {too_slow_took:.1?} ({landed} of {} cancellations landed \
             unanswered), redelivery applied the rest once; stock conserved, {} notices",
            slow.len(),
            reported.len(),
            too_slow.len(),
            notices.items.len()
            ),
        );
    })
    .await
    .expect("the test ended within 90 s");
}

#[tokio::test]
async fn stock_is_conserved_whatever_order_and_however_often_events_arrive() {
    let stack = Stack::new(3).await;
    let deps = stack.deps(stack.store.clone(), true);
    let ids = ["o-1", "o-2", "o-3", "o-4", "o-5", "o-6", "o-7", "o-8"];
    for (n, id) in ids.iter().enumerate() {
        stack
            .place(id, &[("sku-a", 1), ("sku-c", n as u32 + 1)])
            .await;
    }
    // Half are paid before their timeout fires, some twice over; every order gets a timeout.
    for id in &ids[..4] {
        stack
            .store
            .mark_paid(&order_id(id), chrono::Utc::now())
            .await
            .expect("paid");
        stack.publish(id, EventType::Paid).await;
    }
    for id in ids.iter().rev() {
        stack.publish(id, EventType::Timeout).await;
    }
    for id in [ids[0], ids[5]] {
        stack.publish(id, EventType::Timeout).await;
        stack.publish(id, EventType::Paid).await;
    }
    let records = read(&stack.topic, 4 + 8 + 4).await;

    // Delivered in overlapping batches, as redeliveries after partial failures are.
    for window in [&records[..], &records[3..], &records[..9], &records[5..]] {
        handle(&deps, invocation(batch(window)))
            .await
            .expect("handled");
    }
    for (n, id) in ids.iter().enumerate() {
        let expected = if n < 4 {
            OrderStatus::Paid
        } else {
            OrderStatus::Cancelled
        };
        assert_eq!(stack.status(id).await, expected, "{id}");
    }
    stack.assert_stock_conserved(&ids).await;
    // o-6 was never paid: its `paid` event can never apply. It is dead-lettered once per delivery
    // (at least once, like everything on Kafka), always naming the same source record.
    let dead: Vec<_> = read(&stack.dead_letter_topic, 1).await;
    let source_offsets: std::collections::BTreeSet<Vec<u8>> = dead
        .iter()
        .filter_map(|(raw, _)| {
            raw.headers
                .iter()
                .find(|(k, _)| k == "dlq-source-offset")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(source_offsets.len(), 1, "{dead:?}");
    assert!(
        event_types(&dead)
            .iter()
            .all(|e| *e == ("o-6".to_string(), EventType::Paid)),
        "{dead:?}"
    );
}
