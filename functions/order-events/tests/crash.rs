//! The order-events binary killed with SIGKILL in the middle of a batch, at each of its DynamoDB
//! calls in turn, then handed the same batch again on a fresh process, as the event source
//! mapping redelivers a batch whose invocation failed.
//!
//! The process runs against a local Lambda Runtime API (`orderflow_testing::runtime`), moto
//! behind a `FaultProxy` and the local broker. The crash point is the most adversarial one: the
//! proxy holds the answer to call `k` (moto has applied it; the process has not read it) and the
//! process is killed then. Each crash point gets a round of its own: fresh orders and their
//! events (a `created`, a `paid`, a due `timeout`, a `cancelled`, and a poison `timeout` for an
//! order that does not exist) over three partitions, in one table set.
//!
//! After each redelivery: every effect applied once (statuses, stock, notifications, sales), the
//! poison record dead-lettered (once per delivery that reached it, always naming its source) and
//! nothing else; for every product, initial stock = current stock + what PENDING and PAID orders
//! hold; no PENDING order without its payment timeout.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orderflow_adapters::kafka::{KafkaPublisher, raw_record};
use orderflow_adapters::msk::KafkaEventBuilder;
use orderflow_domain::ports::{
    EventPublisher, NotificationStore, OrderStore, PageRequest, ProductStore, RawRecord,
    SalesStore, TimeoutScheduler,
};
use orderflow_emulators::lambda::{Invoke, InvokeError};
use orderflow_emulators::msk::{self, Backoff, Delivered, MskSettings};
use orderflow_testing::figures;
use orderflow_testing::local::{self, within};
use orderflow_testing::proxy::FaultProxy;
use orderflow_testing::runtime::{Outcome, RuntimeApi};
use orderflow_testing::services::LocalServices;
use orderflow_types::{
    EventType, Order, OrderEvent, OrderId, OrderLine, OrderStatus, PaymentTimeout, ProductId,
    Quantity, UserId,
};
use rdkafka::Message;
use serde_json::Value;

/// Every wait of the test is bounded by this: a hung process fails the test, it does not hold it.
const WITHIN: Duration = Duration::from_secs(30);

/// How many rounds are prepared for crash points: at least the DynamoDB calls of a batch.
const MAX_CALLS: usize = 10;

/// The product every round's orders but the paid one hold, and its initial stock.
const SHARED_PRODUCT: &str = "sku-shared";
const SHARED_STOCK: u64 = 1000;
/// Each round's paid order buys this many of a product of its own, of this initial stock.
const SOLD: u32 = 2;
const SALE_STOCK: u64 = 10;

/// One round: its orders, all of one user.
struct Round {
    name: String,
    user: String,
    timeout: String,
    paid: String,
    created: String,
    cancelled: String,
    /// The order of the poison `timeout`, which does not exist.
    ghost: String,
    sale_product: String,
}

impl Round {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            user: format!("user-{name}"),
            timeout: format!("{name}-timeout"),
            paid: format!("{name}-paid"),
            created: format!("{name}-created"),
            cancelled: format!("{name}-cancelled"),
            ghost: format!("{name}-ghost"),
            sale_product: format!("sku-sale-{name}"),
        }
    }

    fn orders(&self) -> [&str; 4] {
        [&self.timeout, &self.paid, &self.created, &self.cancelled]
    }
}

/// The local services, the function's Runtime API and the proxy its DynamoDB calls go through.
struct Stack {
    services: LocalServices,
    /// Where the function publishes dead letters: the only topic it writes to.
    dead_letter_topic: String,
    publisher: KafkaPublisher,
    proxy: FaultProxy,
    runtime: Arc<RuntimeApi>,
    /// Every order placed so far, for the invariants.
    orders: Vec<String>,
    sale_products: Vec<String>,
}

impl Stack {
    async fn new() -> Self {
        let services = LocalServices::new(3).await;
        services.product(SHARED_PRODUCT, 100, SHARED_STOCK).await;
        Self {
            dead_letter_topic: local::fresh_topic(1).await,
            publisher: services.publisher(),
            proxy: FaultProxy::before_moto().await,
            runtime: Arc::new(RuntimeApi::start("order-events", Duration::from_secs(60)).await),
            services,
            orders: Vec::new(),
            sale_products: Vec::new(),
        }
    }

    /// A fresh order-events process (a cold start), its DynamoDB calls through the proxy.
    fn start_function(&self) -> orderflow_testing::runtime::FunctionProcess {
        let bootstrap = local::kafka_bootstrap_servers();
        let endpoint = self.proxy.url();
        self.runtime.spawn(
            env!("CARGO_BIN_EXE_order-events"),
            &[
                ("AWS_ENDPOINT_URL", endpoint.as_str()),
                ("DYNAMODB_TABLE_PREFIX", self.services.tables.prefix()),
                ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()),
                ("ORDER_EVENTS_DLQ_TOPIC", self.dead_letter_topic.as_str()),
            ],
        )
    }

    /// Places the round's orders PENDING, due now, each with its payment timeout scheduled; pays
    /// one; publishes the round's events.
    async fn prepare(&mut self, round: &Round) {
        self.services
            .product(&round.sale_product, 100, SALE_STOCK)
            .await;
        let now = chrono::Utc::now();
        let store = self.services.store();
        let scheduler = self.services.scheduler();
        for id in round.orders() {
            let (product, units) = if id == round.paid {
                (round.sale_product.as_str(), SOLD)
            } else {
                (SHARED_PRODUCT, 3)
            };
            let order = Order::new_pending(
                order_id(id),
                user(&round.user),
                vec![OrderLine {
                    product_id: sku(product),
                    quantity: Quantity::new(u64::from(units)).expect("quantity"),
                    unit_price_cents: 100,
                }],
                now - chrono::Duration::minutes(30),
                now,
            );
            scheduler
                .schedule(&PaymentTimeout {
                    order_id: order.order_id.clone(),
                    user_id: order.user_id.clone(),
                    payment_due_at: now,
                })
                .await
                .expect("scheduled");
            store.place_order(&order).await.expect("placed");
            self.orders.push(id.to_owned());
        }
        self.sale_products.push(round.sale_product.clone());
        store
            .mark_paid(&order_id(&round.paid), now)
            .await
            .expect("paid");
        for (id, event_type) in [
            (&round.created, EventType::Created),
            (&round.paid, EventType::Paid),
            (&round.timeout, EventType::Timeout),
            (&round.cancelled, EventType::Cancelled),
            (&round.ghost, EventType::Timeout),
        ] {
            let event = OrderEvent::new(order_id(id), user(&round.user), event_type, now);
            self.publisher.publish(&event).await.expect("published");
        }
    }

    /// The records of `round`, as the mapping reads them, out of `all` on the topic.
    fn records_of(round: &Round, all: &[(RawRecord, i64)]) -> Vec<(RawRecord, i64)> {
        let prefix = format!("{}-", round.name);
        let records: Vec<_> = all
            .iter()
            .filter(|(raw, _)| {
                raw.key
                    .as_deref()
                    .is_some_and(|key| key.starts_with(prefix.as_bytes()))
            })
            .cloned()
            .collect();
        assert_eq!(records.len(), 5, "{}: the round's records", round.name);
        records
    }

    /// Hands `records` to the running process as one batch; its answer.
    fn deliver(&self, records: &[(RawRecord, i64)]) -> orderflow_testing::runtime::Invocation {
        let batch = records
            .iter()
            .fold(
                KafkaEventBuilder::new(
                    "arn:aws:kafka:us-east-1:123456789012:cluster/orderflow/1",
                    &local::kafka_bootstrap_servers(),
                ),
                |builder, (record, timestamp)| builder.record(record, *timestamp),
            )
            .build();
        self.runtime
            .invoke(serde_json::to_vec(&batch).expect("a batch serializes"))
    }

    /// Each effect of `round` applied once.
    async fn assert_applied_once(&self, round: &Round, crash: &str) {
        let store = self.services.store();
        for (id, expected) in [
            (&round.timeout, OrderStatus::Cancelled),
            (&round.paid, OrderStatus::Paid),
            (&round.created, OrderStatus::Pending),
            (&round.cancelled, OrderStatus::Pending),
        ] {
            let order = store
                .get_order(&order_id(id))
                .await
                .expect("read")
                .expect("exists");
            assert_eq!(order.status, expected, "{crash}: {id}");
        }
        let notices = store
            .list_notifications(&user(&round.user), &PageRequest::default())
            .await
            .expect("list");
        let mut notified: Vec<String> = notices
            .items
            .iter()
            .map(|notice| notice.notification_id.clone())
            .collect();
        notified.sort();
        let mut expected = vec![
            format!("{}#order_cancelled", round.cancelled),
            format!("{}#order_created", round.created),
            format!("{}#order_cancelled", round.timeout),
        ];
        expected.sort();
        assert_eq!(notified, expected, "{crash}: each notification once");
        let sales = store
            .product_sales(&sku(&round.sale_product))
            .await
            .expect("sales");
        assert_eq!(
            sales.units_sold,
            u64::from(SOLD),
            "{crash}: the sale counted once"
        );
    }

    /// For every product, initial stock = current stock + what PENDING and PAID orders hold; and
    /// no order is PENDING without its payment timeout.
    async fn assert_invariants(&self, crash: &str) {
        let store = self.services.store();
        let mut held: BTreeMap<String, u64> = BTreeMap::new();
        for id in &self.orders {
            let order = store
                .get_order(&order_id(id))
                .await
                .expect("read")
                .expect("exists");
            if order.status == OrderStatus::Pending {
                assert!(
                    self.services.is_scheduled(&order.order_id).await,
                    "{crash}: {id} is PENDING without its payment timeout"
                );
            }
            if order.status != OrderStatus::Cancelled {
                for line in &order.lines {
                    *held.entry(line.product_id.to_string()).or_default() +=
                        u64::from(line.quantity.get());
                }
            }
        }
        let products = std::iter::once((SHARED_PRODUCT.to_owned(), SHARED_STOCK))
            .chain(self.sale_products.iter().map(|id| (id.clone(), SALE_STOCK)));
        for (id, initial) in products {
            let current = store
                .get_product(&sku(&id))
                .await
                .expect("read")
                .expect("exists")
                .stock;
            let held = held.get(&id).copied().unwrap_or(0);
            assert_eq!(
                current + held,
                initial,
                "{crash}: {id}: stock {current} + held {held} != initial {initial}"
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

fn user(id: &str) -> UserId {
    UserId::parse(id).expect("valid id")
}

/// Every record of `topic` with its timestamp, read to its end offsets.
async fn read(topic: &str) -> Vec<(RawRecord, i64)> {
    tokio::time::timeout(WITHIN, local::read_topic(topic))
        .await
        .expect("reading the topic in time")
        .iter()
        .map(|message| {
            let timestamp = message.timestamp().to_millis().unwrap_or_default();
            (raw_record(message), timestamp)
        })
        .collect()
}

/// The function's answer to a batch it completed: no partition left to resume.
fn assert_batch_done(outcome: &Outcome, crash: &str) {
    let body = outcome
        .response_text()
        .unwrap_or_else(|| panic!("{crash}: the batch failed: {outcome:?}"));
    let response: serde_json::Value = serde_json::from_str(&body).expect("a JSON answer");
    let failures = response["batchItemFailures"].as_array().map_or(0, Vec::len);
    assert_eq!(failures, 0, "{crash}: every record done: {body}");
}

#[tokio::test]
async fn killed_at_any_dynamodb_call_mid_batch_a_redelivered_batch_applies_each_event_once() {
    let mut stack = Stack::new().await;

    // A clean run counts the batch's DynamoDB calls: the crash points.
    // Every round's orders and events up front: one read of the topic instead of one a round.
    let clean = Round::new("clean");
    stack.prepare(&clean).await;
    let crash_rounds: Vec<Round> = (0..MAX_CALLS)
        .map(|k| Round::new(&format!("k{k}")))
        .collect();
    for round in &crash_rounds {
        stack.prepare(round).await;
    }
    let all = read(&stack.services.topic).await;
    let records = Stack::records_of(&clean, &all);
    let process = stack.start_function();
    let before = stack.proxy.responses();
    let outcome = stack.deliver(&records).outcome(WITHIN).await;
    assert_batch_done(&outcome, &format!("clean run; log:\n{}", process.log()));
    let calls = stack.proxy.responses() - before;
    drop(process);
    stack.assert_applied_once(&clean, "clean run").await;
    assert!(
        calls >= 5,
        "every record of the batch reads or writes DynamoDB"
    );
    assert!(
        calls <= MAX_CALLS,
        "{calls} calls: more than the rounds prepared"
    );

    let mut rounds = vec![&clean];
    let mut killed = 0;
    for (k, round) in crash_rounds.iter().enumerate().take(calls) {
        let crash = format!("killed at DynamoDB call {k} of {calls}");
        let records = Stack::records_of(round, &all);
        let mut process = stack.start_function();
        stack.proxy.hold_response(stack.proxy.responses() + k);
        let first = stack.deliver(&records);
        assert!(
            stack.proxy.wait_for_held(WITHIN).await,
            "{crash}: call {k} never came; log:\n{}",
            process.log()
        );
        process.kill();
        killed += 1;
        assert_eq!(first.outcome(WITHIN).await, Outcome::ProcessDied, "{crash}");
        stack.proxy.release();
        stack.assert_invariants(&crash).await;

        // The mapping redelivers the batch its failed invocation held, to a new process.
        let process = stack.start_function();
        let outcome = stack.deliver(&records).outcome(WITHIN).await;
        assert_batch_done(&outcome, &format!("{crash}; log:\n{}", process.log()));
        drop(process);
        stack.assert_applied_once(round, &crash).await;
        stack.assert_invariants(&crash).await;
        rounds.push(round);
    }

    // Dead letters: each poison record, once per delivery that reached it, always naming its
    // source; nothing else.
    let sources: BTreeMap<(i64, i64), String> = all
        .into_iter()
        .filter(|(raw, _)| {
            rounds
                .iter()
                .any(|round| raw.key.as_deref() == Some(round.ghost.as_bytes()))
        })
        .map(|(raw, _)| {
            let key = String::from_utf8_lossy(raw.key.as_deref().unwrap_or_default()).into_owned();
            ((raw.partition, raw.offset), key)
        })
        .collect();
    assert_eq!(sources.len(), rounds.len(), "one poison record a round");
    let mut dead_letters: BTreeMap<(i64, i64), usize> = BTreeMap::new();
    for (raw, _) in read(&stack.dead_letter_topic).await {
        let header = |name: &str| -> i64 {
            raw.headers
                .iter()
                .find(|(key, _)| key == name)
                .and_then(|(_, value)| String::from_utf8_lossy(value).parse().ok())
                .unwrap_or_else(|| panic!("a dead letter without {name}: {raw:?}"))
        };
        let source = (header("dlq-source-partition"), header("dlq-source-offset"));
        assert!(
            sources.contains_key(&source),
            "only poison is dead-lettered: {raw:?}"
        );
        *dead_letters.entry(source).or_default() += 1;
    }
    for (source, key) in &sources {
        let count = dead_letters.get(source).copied().unwrap_or(0);
        assert!(
            (1..=2).contains(&count),
            "{key} dead-lettered {count} times over 2 deliveries at most"
        );
    }
    let redead = dead_letters.values().filter(|&&count| count == 2).count();

    figures::report(
        "order-events crash",
        format!(
            "{calls} DynamoDB calls a batch, {killed} crash points tried, \
             {killed} processes killed, {} redeliveries, {} invocations handed out; each round's 4 \
             events applied once; {} poison records dead-lettered, {redead} of them twice (both \
             deliveries reached them)",
            killed,
            stack.runtime.handed_out(),
            sources.len(),
        ),
    );
}

/// order-events behind the Runtime API, as the MSK mapping emulator invokes it: an invocation
/// whose process dies is a failed invocation, which the mapping redelivers.
struct ViaRuntime(Arc<RuntimeApi>);

impl Invoke for ViaRuntime {
    async fn invoke(&self, function: &str, payload: &Value) -> Result<Value, InvokeError> {
        let body = serde_json::to_vec(payload).expect("a batch serializes");
        let failed = |body: String| InvokeError::Function {
            function: function.to_owned(),
            status: 502,
            body,
        };
        match self.0.invoke(body).outcome(WITHIN).await {
            Outcome::Response(answer) => {
                serde_json::from_slice(&answer).map_err(|err| InvokeError::Response {
                    function: function.to_owned(),
                    reason: err.to_string(),
                })
            }
            Outcome::Error { body, .. } => Err(failed(String::from_utf8_lossy(&body).into_owned())),
            Outcome::ProcessDied => Err(failed(
                r#"{"errorType":"Runtime.ExitError","errorMessage":"the process was killed"}"#
                    .into(),
            )),
        }
    }
}

/// At which DynamoDB call of a batch a process is killed, one batch after another; a batch with
/// fewer calls runs whole, and the crash point waits for the next.
const MAPPED_CRASHES: [usize; 3] = [1, 3, 5];

#[tokio::test]
async fn killed_mid_batch_while_the_mapping_emulator_keeps_delivering_every_event_applies_once() {
    let mut stack = Stack::new().await;
    let rounds: Vec<Round> = (0..MAPPED_CRASHES.len())
        .map(|n| Round::new(&format!("m{n}")))
        .collect();
    for round in &rounds {
        stack.prepare(round).await;
    }
    // Where each partition ends: the mapping is done when it has committed every one.
    let mut ends: BTreeMap<i64, i64> = BTreeMap::new();
    for (raw, _) in read(&stack.services.topic).await {
        let end = ends.entry(raw.partition).or_default();
        *end = (*end).max(raw.offset + 1);
    }

    let settings = MskSettings {
        kafka: local::kafka_config(),
        topic: stack.services.topic.clone(),
        group_id: local::unique_name("order-events-mapping"),
        function: "order-events".into(),
        batch_size: 5,
        batching_window: Duration::from_millis(200),
        event_source_arn: "arn:aws:kafka:us-east-1:123456789012:cluster/orderflow/1".into(),
    };
    let consumer = msk::consumer(&settings).expect("the mapping's consumer");
    let lambda = ViaRuntime(Arc::clone(&stack.runtime));
    let mut backoff = Backoff::default();
    let mut committed: BTreeMap<i64, i64> = BTreeMap::new();
    let (mut deliveries, mut redelivered) = (0, 0);
    let mut crash_points = MAPPED_CRASHES.iter();
    let mut pending_crash = None;
    let mut killed_at = Vec::new();
    let mut redelivery = false;
    while ends
        .iter()
        .any(|(partition, end)| committed.get(partition).copied().unwrap_or(0) < *end)
    {
        deliveries += 1;
        assert!(deliveries <= 20, "the mapping never got through the topic");
        let mut process = stack.start_function();
        // Every other batch, the process dies holding the answer to one of its DynamoDB calls.
        let crash_at = if redelivery {
            None
        } else {
            pending_crash.take().or_else(|| crash_points.next())
        };
        if let Some(&k) = crash_at {
            stack.proxy.hold_response(stack.proxy.responses() + k);
        }
        let delivery = msk::deliver_batch(&consumer, &settings, &lambda, &mut backoff);
        let delivery = within(Duration::from_secs(60), "a batch", delivery);
        tokio::pin!(delivery);
        let (delivered, died) = match crash_at {
            None => ((&mut delivery).await, false),
            Some(&k) => {
                tokio::select! {
                    // A batch with fewer calls than the crash point runs whole.
                    delivered = &mut delivery => {
                        stack.proxy.disarm();
                        (delivered, false)
                    }
                    held = stack.proxy.wait_for_held(Duration::from_secs(60)) => {
                        assert!(held, "the batch neither ended nor reached call {k}");
                        process.kill();
                        let delivered = (&mut delivery).await;
                        killed_at.push(k);
                        stack.proxy.release();
                        stack
                            .assert_invariants(&format!("killed at call {k}"))
                            .await;
                        (delivered, true)
                    }
                }
            }
        };
        if crash_at.is_some() && !died {
            // The crash point waits for a batch that reaches it.
            pending_crash = crash_at;
        }
        match delivered.expect("the mapping delivers") {
            Delivered::Committed(next) => {
                assert!(!died, "a batch whose process died was committed");
                redelivered += usize::from(redelivery);
                for ((_, partition), offset) in next {
                    committed.insert(i64::from(partition), offset);
                }
                redelivery = false;
            }
            Delivered::Failed { reason, .. } => {
                assert!(died, "a batch failed: {reason}");
                redelivery = true;
            }
        }
        drop(process);
    }

    assert!(
        !killed_at.is_empty(),
        "no batch reached a crash point: the test proves nothing"
    );
    for round in &rounds {
        stack
            .assert_applied_once(round, "after the mapping got through")
            .await;
    }
    stack
        .assert_invariants("after the mapping got through")
        .await;
    figures::report(
        "order-events crash under the mapping emulator",
        format!(
            "{} records over {} partitions, {deliveries} deliveries; {} processes killed \
             mid-batch (at DynamoDB calls {killed_at:?}), {redelivered} batches redelivered by the \
             mapping and committed; each round's 4 events applied once, stock conserved",
            ends.values().sum::<i64>(),
            ends.len(),
            killed_at.len()
        ),
    );
}
