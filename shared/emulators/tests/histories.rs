//! Randomized histories through the whole pipeline: customers placing, paying and cancelling
//! orders at once while their payment timeouts fire, and every event source delivering the way
//! AWS may — at least once, late, out of order between partitions.
//!
//! Everything runs on the local services (moto's DynamoDB, its streams and the Scheduler, a
//! 3-partition topic on tansu) through the functions' own handlers, invoked by the emulators of
//! the three event sources as `cargo lambda watch` would invoke them: create-order and orders-api
//! answer the customers; the DynamoDB Streams mapping emulator hands order-stream the orders
//! table's changes, which it publishes as events; the Scheduler emulator fires each order's
//! schedule (early or late within its minute, as the Scheduler may) into order-timeout; the MSK
//! event source mapping emulator hands order-events its batches. Between the emulators and the
//! functions, a seeded chaos layer:
//!
//! - order-stream: batches published and then reported failed (the stream mapping redelivers
//!   them, and their events are published again), and batches delivered twice;
//! - order-timeout: invocations that fail before running (Lambda retries them) and invocations
//!   delivered twice (asynchronous invocation is at least once);
//! - order-events: each batch split by partition and delivered in a shuffled order, batches
//!   delivered twice, batches applied and then reported failed (the mapping redelivers them),
//!   and records copied back onto the topic later, into any partition: duplicates that arrive
//!   after the events that followed them.
//!
//! Once every customer is done, every timeout has fired and the mapping has committed the whole
//! topic, the test checks what the system promises:
//!
//! - for every product, initial stock = current stock + the units of its PENDING and PAID orders;
//! - every order's `created`, and its `paid` or `cancelled`, is on the topic under the
//!   transition's own event id, and no other event of an order is;
//! - no order is PENDING; a payment answered 200 left its order PAID, a cancellation answered
//!   200 left it CANCELLED by the customer;
//! - every order has exactly one "created" notification, a cancelled order exactly one
//!   "cancelled" notification, and each product's units sold are exactly those of its PAID
//!   orders: no duplicate applied twice, none lost;
//! - nothing placed went to the dead-letter topic, and no request was answered with a 5xx.
//!
//! `SEED=<n>` replays a history: the seed fixes every choice of the customers and the chaos
//! layer; how concurrent customers and the emulators interleave is the machine's. Longer runs:
//! `HISTORY_USERS`, `HISTORY_ACTIONS` (and `make soak`, which runs several seeds).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_lambda_events::event::kafka::KafkaEvent;
use chrono::{TimeDelta, Utc};
use lambda_http::{Body, Response};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use order_events::AwsConsumer;
use orderflow_adapters::api::AwsApi;
use orderflow_adapters::kafka::{KafkaDeadLetters, KafkaPublisher, dead_letter_headers};
use orderflow_adapters::system::SystemClock;
use orderflow_domain::consumer::EventConsumer;
use orderflow_domain::outbox;
use orderflow_domain::ports::{NotificationStore, OrderStore, PageRequest, SalesStore};
use orderflow_emulators::lambda::{Invoke, InvokeError};
use orderflow_emulators::msk::{self, MskSettings};
use orderflow_emulators::scheduler::{AsyncInvokeSettings, FireTime, Scheduler, SchedulerSettings};
use orderflow_emulators::streams::{StreamClients, StreamMapping, StreamSettings};
use orderflow_http::ApiContext;
use orderflow_testing::api::{self, answered};
use orderflow_testing::services::LocalServices;
use orderflow_testing::{figures, local};
use orderflow_types::{
    CancelReason, EventType, NotificationKind, Order, OrderEvent, OrderId, OrderStatus, ProductId,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::{Value, json};
use tokio::task::JoinSet;

const PARTITIONS: i32 = 3;
const PRODUCTS: usize = 4;
/// Units of each product per customer, on top of a few: enough for some orders to be placed,
/// few enough for many to be sold out, until timeouts return their units.
const STOCK_PER_CUSTOMER: u64 = 1;
/// How long after the last customer action everything must have settled.
const SETTLE_WITHIN: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn randomized_histories_keep_every_promise() {
    let seed = std::env::var("SEED")
        .ok()
        .map(|seed| seed.parse::<u64>().expect("SEED is a whole number"))
        .unwrap_or_else(|| Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64);
    let users = env_number("HISTORY_USERS", 8);
    let actions = env_number("HISTORY_ACTIONS", 12);
    let scenario = format!("randomized history (SEED={seed})");
    figures::report(
        &scenario,
        format!("{users} customers, {actions} actions each"),
    );
    let mut rng = Rng::new(seed);

    let stack = LocalServices::new(PARTITIONS).await;
    let dead_letter_topic = local::fresh_topic(1).await;
    let stock = 4 + STOCK_PER_CUSTOMER * users as u64;
    let mut products = Vec::new();
    for n in 0..PRODUCTS {
        let price = 500 + 250 * rng.below(8);
        products.push(stack.product(&format!("product-{n}"), price, stock).await);
    }
    // Short enough for most unpaid orders to time out while the customers are still busy, long
    // enough for a request to finish placing its order on a busy moto (a request still placing
    // its order after the deadline is refused: see `Idempotency`).
    let payment_timeout =
        TimeDelta::milliseconds(1_000 + 150 * users as i64 + 500 * rng.below(4) as i64);
    let fire = FireTime::Offset(rng.below(7) as i64 - 3);

    let pipeline = Arc::new(Pipeline::new(
        &stack,
        &dead_letter_topic,
        payment_timeout,
        rng.fork(),
    ));
    let (mapping, stream, mut scheduler) = start_event_sources(&stack, fire, &pipeline).await;
    let polling = tokio::spawn(async move {
        loop {
            if let Err(err) = scheduler.poll().await {
                eprintln!("listing schedules failed: {err}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    });

    // A first order, and its event consumed: the mapping has joined its consumer group (tansu
    // takes ~20 s the first time), so that events are applied while the customers act.
    let mut promises = Promises::default();
    let first = answered(
        create_order::handle(
            &pipeline.create_order,
            api::order_request("first-customer", &[(&products[0], 1)]).build(),
        )
        .await,
    );
    assert_eq!(first.status(), 201, "the first order: {:?}", first.body());
    let first = api::order(&first);
    promises.placed.insert(first.order_id.clone(), first);
    let joined = tokio::time::Instant::now();
    while pipeline.figures.batches.load(Ordering::SeqCst) == 0 {
        assert!(
            joined.elapsed() < Duration::from_secs(60),
            "the mapping never delivered the first order's event"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    figures::report(
        &scenario,
        format!(
            "the mapping delivered its first batch after {:.1} s",
            joined.elapsed().as_secs_f64()
        ),
    );

    // The customers, each with a seeded script of its own.
    let mut customers = JoinSet::new();
    for n in 0..users {
        let customer = Customer {
            user: format!("customer-{n}"),
            neighbour: format!("customer-{}", (n + 1) % users),
            rng: rng.fork(),
            products: products.clone(),
            pipeline: Arc::clone(&pipeline),
        };
        customers.spawn(customer.act(actions));
    }
    while let Some(done) = customers.join_next().await {
        promises.merge(done.expect("a customer panicked"));
    }

    // Every order final, every copy republished, the whole topic committed by the mapping.
    let orders = settle(&stack, &pipeline).await;
    polling.abort();
    mapping.abort();
    stream.abort();

    let injected = pipeline.figures.snapshot();
    let checked = check_promises(
        &stack,
        &products,
        stock,
        &orders,
        &promises,
        &dead_letter_topic,
    )
    .await;
    let events = stack.events().await;
    let count = |kind: EventType| events.iter().filter(|e| e.event_type == kind).count();

    let paid = orders
        .values()
        .filter(|o| o.status == OrderStatus::Paid)
        .count();
    let by_timeout = orders
        .values()
        .filter(|o| o.cancel_reason == Some(CancelReason::PaymentTimeout))
        .count();
    figures::report(
        &scenario,
        format!(
            "{} orders placed ({} with a key, {} replays), {} sold out; {} paid, {} cancelled \
             by the customer, {} by their timeout; answers: 200 to payments of {} orders, {}×409; \
             200 to cancellations of {} orders, {}×409; 404 to {} requests for another's \
             order; no 5xx",
            orders.len(),
            promises.keyed,
            promises.replays,
            promises.sold_out,
            paid,
            orders.len() - paid - by_timeout,
            by_timeout,
            promises.paid.len(),
            promises.pay_refused,
            promises.cancelled.len(),
            promises.cancel_refused,
            promises.foreign,
        ),
    );
    figures::report(
        &scenario,
        format!(
            "events on the topic {} (created {}, paid {}, timeout {}, cancelled {}), {} batches; \
             faults injected: order-timeout {} failed + {} twice, order-events {} batches \
             reported failed after applying + {} delivered twice, {} split by partition and \
             shuffled, {} records copied back late, order-stream {} batches reported failed after \
             publishing + {} delivered twice; {} invariant checks passed; {} timeouts of orders \
             refused as sold out dead-lettered",
            events.len(),
            count(EventType::Created),
            count(EventType::Paid),
            count(EventType::Timeout),
            count(EventType::Cancelled),
            injected.batches,
            injected.timeout_failed,
            injected.timeout_twice,
            injected.batch_failed,
            injected.batch_twice,
            injected.batch_shuffled,
            injected.copies,
            injected.stream_failed,
            injected.stream_twice,
            checked.checks,
            checked.refused_timeouts,
        ),
    );
    for (fault, count) in [
        (
            "order-stream failed after publishing",
            injected.stream_failed,
        ),
        ("order-stream twice", injected.stream_twice),
        ("order-timeout failed", injected.timeout_failed),
        ("order-timeout twice", injected.timeout_twice),
        ("batch failed after applying", injected.batch_failed),
        ("batch twice", injected.batch_twice),
        ("batch shuffled", injected.batch_shuffled),
        ("record copied back", injected.copies),
    ] {
        assert!(
            count > 0,
            "no {fault}: the history proves less (seed {seed})"
        );
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|value| {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{name} is a whole number"))
        })
        .unwrap_or(default)
}

/// SplitMix64: small, seedable, good enough to pick actions. Reproducible across platforms.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A generator of its own for a concurrent actor, derived from this one.
    fn fork(&mut self) -> Rng {
        Rng::new(self.next())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The four functions, as deployed but in this process, behind the chaos layer.
struct Pipeline {
    create_order: ApiContext<AwsApi>,
    orders_api: ApiContext<AwsApi>,
    order_stream: KafkaPublisher,
    order_timeout: order_timeout::Deps<KafkaPublisher>,
    order_events: order_events::Deps<AwsConsumer>,
    chaos: Mutex<Rng>,
    /// Copies of consumed records on their way back to the topic.
    copies: Mutex<JoinSet<()>>,
    producer: FutureProducer,
    topic: String,
    /// The mapping's consumer group, whose committed offsets tell when the topic is consumed.
    mapping_group: String,
    figures: Figures,
}

#[derive(Default)]
struct Figures {
    /// Invocations of order-events by the mapping.
    batches: AtomicUsize,
    timeout_failed: AtomicUsize,
    timeout_twice: AtomicUsize,
    batch_failed: AtomicUsize,
    batch_twice: AtomicUsize,
    batch_shuffled: AtomicUsize,
    copies: AtomicUsize,
    stream_failed: AtomicUsize,
    stream_twice: AtomicUsize,
}

struct FigureSnapshot {
    batches: usize,
    timeout_failed: usize,
    timeout_twice: usize,
    batch_failed: usize,
    batch_twice: usize,
    batch_shuffled: usize,
    copies: usize,
    stream_failed: usize,
    stream_twice: usize,
}

impl Figures {
    fn bump(counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
    }

    fn snapshot(&self) -> FigureSnapshot {
        let get = |counter: &AtomicUsize| counter.load(Ordering::SeqCst);
        FigureSnapshot {
            batches: get(&self.batches),
            timeout_failed: get(&self.timeout_failed),
            timeout_twice: get(&self.timeout_twice),
            batch_failed: get(&self.batch_failed),
            batch_twice: get(&self.batch_twice),
            batch_shuffled: get(&self.batch_shuffled),
            copies: get(&self.copies),
            stream_failed: get(&self.stream_failed),
            stream_twice: get(&self.stream_twice),
        }
    }
}

impl Pipeline {
    fn new(
        stack: &LocalServices,
        dead_letter_topic: &str,
        payment_timeout: TimeDelta,
        chaos: Rng,
    ) -> Self {
        let api = || {
            let mut context = api::healthy(stack);
            context.storefront.payment_timeout = payment_timeout;
            context
        };
        Self {
            create_order: api(),
            orders_api: api(),
            order_stream: stack.publisher(),
            // As configured in infra/: the delivery timeout and a margin.
            order_timeout: order_timeout::Deps::new(stack.publisher(), Duration::from_secs(6)),
            order_events: order_events::Deps {
                consumer: EventConsumer {
                    store: stack.store(),
                    dead_letters: KafkaDeadLetters::new(stack.publisher(), dead_letter_topic),
                    clock: SystemClock,
                },
                report_batch_item_failures: true,
            },
            chaos: Mutex::new(chaos),
            copies: Mutex::new(JoinSet::new()),
            producer: local::kafka_config()
                .client_config()
                .create()
                .expect("a producer for the copies"),
            topic: stack.topic.clone(),
            mapping_group: local::unique_name("order-events-mapping"),
            figures: Figures::default(),
        }
    }

    fn roll(&self, percent: u64) -> bool {
        lock(&self.chaos).chance(percent)
    }

    /// Whether to inject the fault `counter` counts: always the first time, so that every run
    /// has each kind, then `percent` times in a hundred. Counts it when it says yes.
    fn inject(&self, counter: &AtomicUsize, percent: u64) -> bool {
        let yes = counter.load(Ordering::SeqCst) == 0 || self.roll(percent);
        if yes {
            Figures::bump(counter);
        }
        yes
    }

    fn below(&self, n: u64) -> u64 {
        lock(&self.chaos).below(n)
    }

    /// order-timeout as the local Lambda endpoint runs it: 15 s per invocation, as `infra/`
    /// configures.
    async fn run_order_timeout(&self, payload: &Value) -> Result<Value, InvokeError> {
        let mut context = Context::default();
        context.deadline = u64::try_from((Utc::now() + TimeDelta::seconds(15)).timestamp_millis())
            .expect("after 1970");
        match order_timeout::handle(
            &self.order_timeout,
            LambdaEvent::new(payload.clone(), context),
        )
        .await
        {
            Ok(()) => Ok(Value::Null),
            Err(err) => Err(function_error("order-timeout", Diagnostic::from(err))),
        }
    }

    async fn run_order_stream(&self, payload: &Value) -> Result<Value, InvokeError> {
        match order_stream::handle(
            &self.order_stream,
            LambdaEvent::new(payload.clone(), Context::default()),
        )
        .await
        {
            Ok(response) => Ok(serde_json::to_value(response).expect("a response is JSON")),
            Err(err) => Err(function_error("order-stream", Diagnostic::from(err))),
        }
    }

    async fn run_order_events(&self, payload: &Value) -> Result<Value, InvokeError> {
        let event: KafkaEvent =
            serde_json::from_value(payload.clone()).map_err(|err| InvokeError::Response {
                function: "order-events".into(),
                reason: err.to_string(),
            })?;
        match order_events::handle(
            &self.order_events,
            LambdaEvent::new(event, Context::default()),
        )
        .await
        {
            Ok(response) => Ok(serde_json::to_value(response).expect("a response is JSON")),
            Err(err) => Err(function_error("order-events", Diagnostic::from(err))),
        }
    }

    /// The mapping's batch, split into one invocation per partition in a shuffled order (what
    /// two concurrent pollers of AWS's mapping may do), each partial response merged.
    async fn deliver_shuffled(&self, payload: &Value) -> Result<Value, InvokeError> {
        let Some(partitions) = payload["records"].as_object() else {
            return self.run_order_events(payload).await;
        };
        let mut parts: Vec<_> = partitions.iter().collect();
        if parts.len() > 1 {
            Figures::bump(&self.figures.batch_shuffled);
            for n in (1..parts.len()).rev() {
                let other = self.below(n as u64 + 1) as usize;
                parts.swap(n, other);
            }
        }
        let mut failures = Vec::new();
        for (partition, records) in parts {
            let mut part = payload.clone();
            part["records"] = json!({ partition: records });
            let answer = self.run_order_events(&part).await?;
            if let Some(named) = answer["batchItemFailures"].as_array() {
                failures.extend(named.iter().cloned());
            }
        }
        Ok(json!({ "batchItemFailures": failures }))
    }

    /// Copies some of the batch's records back onto the topic, into any partition, after a
    /// while.
    fn copy_back_later(&self, payload: &Value) {
        let Some(partitions) = payload["records"].as_object() else {
            return;
        };
        for record in partitions
            .values()
            .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        {
            if !self.inject(&self.figures.copies, 6) {
                continue;
            }
            let decode = |field: &str| {
                record[field].as_str().and_then(|encoded| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(encoded)
                        .ok()
                })
            };
            let (Some(value), key) = (decode("value"), decode("key")) else {
                continue;
            };
            let partition = self.below(PARTITIONS as u64) as i32;
            let delay = Duration::from_millis(200 + self.below(1_800));
            let (producer, topic) = (self.producer.clone(), self.topic.clone());
            lock(&self.copies).spawn(async move {
                tokio::time::sleep(delay).await;
                let mut copy = FutureRecord::to(&topic)
                    .partition(partition)
                    .payload(&value);
                if let Some(key) = &key {
                    copy = copy.key(key);
                }
                producer
                    .send(copy, Duration::from_secs(10))
                    .await
                    .map_err(|(err, _)| err)
                    .expect("a copy reaches the topic");
            });
        }
    }

    async fn copies_done(&self) {
        let mut copies = std::mem::take(&mut *lock(&self.copies));
        while let Some(done) = copies.join_next().await {
            done.expect("a copy task panicked");
        }
    }
}

fn function_error(function: &str, diagnostic: Diagnostic) -> InvokeError {
    InvokeError::Function {
        function: function.to_owned(),
        status: 500,
        body: json!({"errorType": diagnostic.error_type, "errorMessage": diagnostic.error_message})
            .to_string(),
    }
}

fn injected_failure(function: &str) -> InvokeError {
    InvokeError::Function {
        function: function.to_owned(),
        status: 500,
        body: r#"{"errorType":"Injected","errorMessage":"the chaos layer failed this invocation"}"#
            .into(),
    }
}

impl Invoke for Pipeline {
    async fn invoke(&self, function: &str, payload: &Value) -> Result<Value, InvokeError> {
        if function == "order-stream" {
            if self.inject(&self.figures.stream_twice, 10) {
                self.run_order_stream(payload).await?;
            }
            let answer = self.run_order_stream(payload).await?;
            if self.inject(&self.figures.stream_failed, 10) {
                // Published, but the mapping never learns it: the batch comes again.
                return Err(injected_failure(function));
            }
            return Ok(answer);
        }
        if function == "order-timeout" {
            if self.inject(&self.figures.timeout_failed, 10) {
                return Err(injected_failure(function));
            }
            if self.inject(&self.figures.timeout_twice, 10) {
                self.run_order_timeout(payload).await?;
            }
            return self.run_order_timeout(payload).await;
        }
        Figures::bump(&self.figures.batches);
        tokio::time::sleep(Duration::from_millis(self.below(60))).await;
        self.copy_back_later(payload);
        if self.inject(&self.figures.batch_twice, 10) {
            self.deliver_shuffled(payload).await?;
        }
        let answer = self.deliver_shuffled(payload).await?;
        if self.inject(&self.figures.batch_failed, 10) {
            // Applied, but the mapping never learns it: the whole batch comes again.
            return Err(injected_failure(function));
        }
        Ok(answer)
    }
}

/// Starts the MSK and the DynamoDB Streams mapping emulators (in tasks) and returns them with the
/// Scheduler emulator.
async fn start_event_sources(
    stack: &LocalServices,
    fire: FireTime,
    pipeline: &Arc<Pipeline>,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::task::JoinHandle<()>,
    Scheduler<Arc<Pipeline>>,
) {
    let settings = MskSettings {
        kafka: local::kafka_config(),
        topic: stack.topic.clone(),
        group_id: pipeline.mapping_group.clone(),
        function: "order-events".into(),
        batch_size: 25,
        batching_window: Duration::from_millis(100),
        event_source_arn: "arn:aws:kafka:us-east-1:123456789012:cluster/orderflow/local".into(),
    };
    let lambda = Arc::clone(pipeline);
    let mapping = tokio::spawn(async move {
        let group = settings.group_id.clone();
        if let Err(err) = msk::run(settings, lambda).await {
            panic!("the mapping of group {group} stopped: {err}");
        }
    });
    let mut settings = StreamSettings::new(stack.tables.name("orders"), "order-stream");
    settings.poll_interval = Duration::from_millis(150);
    // Retried until published: the chaos layer's failures are not poison.
    settings.max_retry_attempts = None;
    settings.max_retry_delay = Duration::from_millis(500);
    let clients = StreamClients::new(local::aws_config().await);
    let stream = StreamMapping::start(settings, clients, Arc::clone(pipeline))
        .await
        .expect("the orders table has a stream");
    let stream = tokio::spawn(async move {
        if let Err(err) = stream.run().await {
            panic!("the stream mapping stopped: {err}");
        }
    });
    let scheduler = Scheduler::new(
        SchedulerSettings {
            group: stack.schedule_group.clone(),
            poll_interval: Duration::from_millis(150),
            fire,
            max_concurrent: 8,
            async_invoke: AsyncInvokeSettings {
                max_retry_attempts: 2,
                retry_delay: Duration::from_millis(500),
                max_event_age: Duration::from_secs(60),
                on_failure_queue_arn: None,
            },
        },
        stack.scheduler_client.clone(),
        aws_sdk_sqs::Client::new(local::aws_config().await),
        Arc::clone(pipeline),
    );
    (mapping, stream, scheduler)
}

/// What the API promised the customers: each answer a later state must agree with.
#[derive(Default)]
struct Promises {
    /// Orders answered 201, and what each reserved.
    placed: BTreeMap<OrderId, Order>,
    keyed: usize,
    replays: usize,
    sold_out: usize,
    paid: BTreeSet<OrderId>,
    pay_refused: usize,
    /// Orders whose cancellation was answered 200, and the reason the answer gave.
    cancelled: BTreeMap<OrderId, Option<CancelReason>>,
    cancel_refused: usize,
    foreign: usize,
}

impl Promises {
    fn merge(&mut self, other: Promises) {
        self.placed.extend(other.placed);
        self.keyed += other.keyed;
        self.replays += other.replays;
        self.sold_out += other.sold_out;
        self.paid.extend(other.paid);
        self.pay_refused += other.pay_refused;
        self.cancelled.extend(other.cancelled);
        self.cancel_refused += other.cancel_refused;
        self.foreign += other.foreign;
    }
}

struct Customer {
    user: String,
    /// Whose orders this customer tries to read, pay and cancel now and then.
    neighbour: String,
    rng: Rng,
    products: Vec<ProductId>,
    pipeline: Arc<Pipeline>,
}

impl Customer {
    async fn act(mut self, actions: usize) -> Promises {
        let mut promises = Promises::default();
        let mut mine: Vec<OrderId> = Vec::new();
        for step in 0..actions {
            let roll = self.rng.below(100);
            match (roll, mine.is_empty()) {
                (0..50, _) | (_, true) => self.place(step, &mut mine, &mut promises).await,
                (50..75, false) => {
                    let order = mine[self.rng.below(mine.len() as u64) as usize].clone();
                    let response = self.send_orders_api(api::pay(&self.user, &order)).await;
                    match response.status().as_u16() {
                        200 => {
                            promises.paid.insert(order);
                        }
                        409 => promises.pay_refused += 1,
                        status => panic!("pay {order}: {status} {:?}", response.body()),
                    }
                }
                (75..92, false) => {
                    let order = mine[self.rng.below(mine.len() as u64) as usize].clone();
                    let response = self.send_orders_api(api::cancel(&self.user, &order)).await;
                    match response.status().as_u16() {
                        200 => {
                            // Cancelled by the customer, or by its timeout before that: the
                            // answer says which, and so must the order from then on.
                            let reason = api::order(&response).cancel_reason;
                            promises.cancelled.insert(order, reason);
                        }
                        409 => promises.cancel_refused += 1,
                        status => panic!("cancel {order}: {status} {:?}", response.body()),
                    }
                }
                (_, false) => {
                    // Another customer's order, by its id: never theirs to see or change.
                    let order = mine[self.rng.below(mine.len() as u64) as usize].clone();
                    let request = match self.rng.below(3) {
                        0 => orderflow_http::testing::ApiGatewayRequest::get(format!(
                            "/orders/{order}"
                        ))
                        .user(&self.neighbour),
                        1 => api::pay(&self.neighbour, &order),
                        _ => api::cancel(&self.neighbour, &order),
                    };
                    let response = self.send_orders_api(request).await;
                    assert_eq!(response.status(), 404, "{} reached {order}", self.neighbour);
                    promises.foreign += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(self.rng.below(250))).await;
        }
        promises
    }

    async fn place(&mut self, step: usize, mine: &mut Vec<OrderId>, promises: &mut Promises) {
        let lines = 1 + self.rng.below(3) as usize;
        let mut chosen: Vec<(&ProductId, u64)> = Vec::new();
        for _ in 0..lines {
            let product = &self.products[self.rng.below(self.products.len() as u64) as usize];
            if chosen.iter().all(|(p, _)| *p != product) {
                chosen.push((product, 1 + self.rng.below(3)));
            }
        }
        let mut request = api::order_request(&self.user, &chosen);
        let keyed = self.rng.chance(50);
        if keyed {
            request = request.idempotency_key(&format!("{}-{step}", self.user));
            promises.keyed += 1;
        }
        let response =
            answered(create_order::handle(&self.pipeline.create_order, request.build()).await);
        match response.status().as_u16() {
            201 => {
                let order = api::order(&response);
                if keyed && self.rng.chance(30) {
                    // The client lost the answer and sends the same request again.
                    let again = answered(
                        create_order::handle(&self.pipeline.create_order, request.build()).await,
                    );
                    assert_eq!(again.status(), 201, "a replay answers as the first time");
                    assert_eq!(
                        api::order(&again).order_id,
                        order.order_id,
                        "the same order"
                    );
                    promises.replays += 1;
                }
                mine.push(order.order_id.clone());
                promises.placed.insert(order.order_id.clone(), order);
            }
            409 => promises.sold_out += 1,
            status => panic!("POST /orders: {status} {:?}", response.body()),
        }
    }

    async fn send_orders_api(
        &self,
        request: orderflow_http::testing::ApiGatewayRequest,
    ) -> Response<Body> {
        answered(orders_api::handle(&self.pipeline.orders_api, request.build()).await)
    }
}

/// Waits until no order is PENDING, every copy is back on the topic, and the mapping committed
/// every partition to its end; returns every order as stored.
async fn settle(stack: &LocalServices, pipeline: &Pipeline) -> BTreeMap<OrderId, Order> {
    let deadline = tokio::time::Instant::now() + SETTLE_WITHIN;
    let store = stack.store();
    loop {
        let mut orders = BTreeMap::new();
        for id in stack.order_ids().await {
            let order = store.get_order(&id).await.expect("read").expect("listed");
            orders.insert(id, order);
        }
        let pending = orders
            .values()
            .filter(|o| o.status == OrderStatus::Pending)
            .count();
        let unannounced = unannounced(stack, &orders).await;
        if pending == 0 && unannounced.is_empty() {
            pipeline.copies_done().await;
            if committed_to_end(stack, pipeline).await {
                return orders;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not settled after {SETTLE_WITHIN:?}: {pending} orders PENDING, {} changes not on \
             the topic ({:?}…), the topic {} committed to its end",
            unannounced.len(),
            unannounced.iter().take(3).collect::<Vec<_>>(),
            if committed_to_end(stack, pipeline).await {
                "is"
            } else {
                "is not"
            }
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The events every order's changes call for: `created`, then `paid` or `cancelled`.
fn transitions(orders: &BTreeMap<OrderId, Order>) -> BTreeSet<(OrderId, EventType)> {
    let mut expected = BTreeSet::new();
    for (id, order) in orders {
        expected.insert((id.clone(), EventType::Created));
        match order.status {
            OrderStatus::Paid => expected.insert((id.clone(), EventType::Paid)),
            OrderStatus::Cancelled => expected.insert((id.clone(), EventType::Cancelled)),
            OrderStatus::Pending => false,
        };
    }
    expected
}

/// The changes of `orders` whose event order-stream has not published yet.
async fn unannounced(
    stack: &LocalServices,
    orders: &BTreeMap<OrderId, Order>,
) -> BTreeSet<(OrderId, EventType)> {
    let published: BTreeSet<_> = stack
        .events()
        .await
        .into_iter()
        .map(|event| (event.order_id, event.event_type))
        .collect();
    transitions(orders)
        .difference(&published)
        .cloned()
        .collect()
}

/// Whether the mapping's consumer group has committed every partition up to its end.
async fn committed_to_end(stack: &LocalServices, pipeline: &Pipeline) -> bool {
    let (topic, group) = (stack.topic.clone(), pipeline.mapping_group.clone());
    tokio::task::spawn_blocking(move || {
        // Reads the group's offsets without joining it.
        let reader: BaseConsumer = local::kafka_config()
            .client_config()
            .set("group.id", &group)
            .create()
            .expect("a consumer");
        let mut partitions = TopicPartitionList::new();
        for partition in 0..PARTITIONS {
            partitions.add_partition(&topic, partition);
        }
        let Ok(committed) = reader.committed_offsets(partitions, Duration::from_secs(5)) else {
            return false;
        };
        (0..PARTITIONS).all(|partition| {
            let end = reader
                .fetch_watermarks(&topic, partition, Duration::from_secs(5))
                .map(|(_, high)| high);
            let at = committed
                .find_partition(&topic, partition)
                .map(|element| element.offset());
            match (end, at) {
                (Ok(0), _) => true,
                (Ok(end), Some(Offset::Offset(at))) => at >= end,
                _ => false,
            }
        })
    })
    .await
    .expect("reading the group's offsets")
}

/// What [`check_promises`] found.
struct Checked {
    /// How many checks passed.
    checks: usize,
    /// Timeouts of orders never placed, on the dead-letter topic.
    refused_timeouts: usize,
}

/// Checks every promise against what is stored and on the topics.
async fn check_promises(
    stack: &LocalServices,
    products: &[ProductId],
    initial_stock: u64,
    orders: &BTreeMap<OrderId, Order>,
    promises: &Promises,
    dead_letter_topic: &str,
) -> Checked {
    let mut checks = 0;
    let store = stack.store();

    // Every order answered 201 is stored, and nothing else was placed.
    assert_eq!(
        orders.keys().collect::<BTreeSet<_>>(),
        promises.placed.keys().collect::<BTreeSet<_>>(),
        "the stored orders are exactly those answered 201"
    );
    checks += 1;

    // Stock is conserved, and never negative (it is unsigned: an oversell fails to store).
    for product in products {
        let held: u64 = orders
            .values()
            .filter(|o| matches!(o.status, OrderStatus::Pending | OrderStatus::Paid))
            .flat_map(|o| &o.lines)
            .filter(|line| &line.product_id == product)
            .map(|line| u64::from(line.quantity.get()))
            .sum();
        let stock = stack.stock(product).await;
        assert_eq!(
            stock + held,
            initial_stock,
            "{product}: {stock} in stock + {held} held"
        );
        checks += 1;
    }

    for (id, order) in orders {
        // Every timeout has fired: nothing is left PENDING.
        assert_ne!(order.status, OrderStatus::Pending, "{id} still PENDING");
        // An answered payment is never undone; an answered cancellation is the customer's.
        if promises.paid.contains(id) {
            assert_eq!(order.status, OrderStatus::Paid, "{id} was paid (200)");
        }
        if let Some(reason) = promises.cancelled.get(id) {
            assert_eq!(
                order.status,
                OrderStatus::Cancelled,
                "{id} was cancelled (200)"
            );
            assert!(
                reason.is_some(),
                "{id}: a cancellation answered without its reason"
            );
            assert_eq!(&order.cancel_reason, reason, "{id}: the reason answered");
        }
        if order.status == OrderStatus::Paid {
            assert!(
                promises.paid.contains(id),
                "{id} PAID without an answered payment"
            );
        }
        checks += 1;
    }

    // The events of the orders' changes: each transition's under its own id, at least once (the
    // chaos layer republishes some), and no other; timeouts are order-timeout's.
    let mut published = BTreeSet::new();
    for event in stack.events().await {
        if event.event_type == EventType::Timeout {
            continue;
        }
        assert_eq!(
            event.event_id,
            Some(outbox::event_id(&event.order_id, event.event_type).expect("an event id")),
            "{event:?}"
        );
        published.insert((event.order_id, event.event_type));
    }
    assert_eq!(published, transitions(orders), "the transitions' events");
    checks += 1;

    // Each notification once: one "created" per order, one "cancelled" per cancelled order.
    let users: BTreeSet<_> = orders.values().map(|o| o.user_id.clone()).collect();
    let mut notices: HashMap<(OrderId, NotificationKind), usize> = HashMap::new();
    for user in users {
        let mut cursor: Option<String> = None;
        loop {
            let page = PageRequest::parse(Some("100"), cursor.as_deref()).expect("a page");
            let listed = store
                .list_notifications(&user, &page)
                .await
                .expect("notifications");
            for notice in listed.items {
                *notices.entry((notice.order_id, notice.kind)).or_default() += 1;
            }
            match listed.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    for (id, order) in orders {
        let count = |kind| notices.get(&(id.clone(), kind)).copied().unwrap_or(0);
        assert_eq!(
            count(NotificationKind::OrderCreated),
            1,
            "{id}: created notices"
        );
        let cancelled = usize::from(order.status == OrderStatus::Cancelled);
        assert_eq!(
            count(NotificationKind::OrderCancelled),
            cancelled,
            "{id}: cancelled notices"
        );
        checks += 1;
    }

    // Each sale once: every product's units sold are those of its PAID orders.
    for product in products {
        let sold: u64 = orders
            .values()
            .filter(|o| o.status == OrderStatus::Paid)
            .flat_map(|o| &o.lines)
            .filter(|line| &line.product_id == product)
            .map(|line| u64::from(line.quantity.get()))
            .sum();
        let counted = store
            .product_sales(product)
            .await
            .expect("sales")
            .units_sold;
        assert_eq!(counted, sold, "{product}: units sold");
        checks += 1;
    }

    // Nothing placed is dead-lettered. The only records there may be the timeouts of orders
    // refused as sold out whose schedule fired before the refusal removed it: with payment
    // timeouts of seconds (and schedules firing up to 3 s early) that happens here; with
    // minutes it cannot (see `Storefront::remove_timeout`).
    let mut refused_timeouts = 0;
    for record in local::read_topic(dead_letter_topic).await {
        let reason = record
            .headers()
            .and_then(|headers| {
                headers
                    .iter()
                    .find(|header| header.key == dead_letter_headers::REASON)
                    .and_then(|header| header.value)
                    .map(|value| String::from_utf8_lossy(value).into_owned())
            })
            .unwrap_or_default();
        let payload = record.payload().unwrap_or_default();
        let event: OrderEvent = serde_json::from_slice(payload).unwrap_or_else(|err| {
            panic!(
                "dead-lettered, not an event ({err}): {}",
                String::from_utf8_lossy(payload)
            )
        });
        assert!(
            event.event_type == EventType::Timeout
                && !orders.contains_key(&event.order_id)
                && reason.contains("does not exist"),
            "dead-lettered: {event:?} ({reason})"
        );
        refused_timeouts += 1;
    }
    checks += 1;
    Checked {
        checks,
        refused_timeouts,
    }
}
