//! Figure 1: the remote calls each operation makes, counted at the transport.
//!
//! Every client of the functions under test talks through a counting proxy
//! (`orderflow_testing::calls`): the DynamoDB and Scheduler clients through one in front of moto,
//! the Kafka producers through one in front of a private tansu that advertises it. The real
//! handlers run in-process; the calls of one operation are the difference of the proxies' counts
//! around it, so the SDKs' retries and any call an adapter makes without meaning to are in it.
//! What each operation needs in place (products, an order to pay, a PENDING order past its
//! deadline) is set up with clients that go to the services directly, and is not counted.
//!
//! Each operation runs on fresh tables. A steady-state row is measured on one context after one
//! warm-up operation on it, as a warm Lambda serves; a "first on a fresh context" row measures
//! the first operation of a new context each run, as a cold start serves it. A row with a floor
//! meets it when the p99 over the runs is at most the floor.
//!
//! The functions' own SDK timeouts apply (two seconds an attempt), and moto on a busy machine can
//! be slower than that: a run the functions answer as unavailable (a 503, a record left for
//! redelivery) is redone and not counted, and the row's note says how many were and what they
//! called. A retry that succeeded stays in the count: it is what the operation cost.

use std::any::Any;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use lambda_http::{Body, Response};
use lambda_runtime::{Context, LambdaEvent};
use order_events::{AwsConsumer, Deps as ConsumerDeps};
use orderflow_adapters::api::AwsApi;
use orderflow_adapters::dynamodb::stream::{StreamBatchResponse, order_image};
use orderflow_adapters::dynamodb::{DynamoIdempotencyStore, DynamoStore};
use orderflow_adapters::kafka::{KafkaDeadLetters, KafkaPublisher};
use orderflow_adapters::msk::{KafkaBatchResponse, KafkaEventBuilder};
use orderflow_adapters::scheduler::EventBridgeScheduler;
use orderflow_adapters::system::SystemClock;
use orderflow_domain::consumer::EventConsumer;
use orderflow_domain::ports::{OrderStore, RawRecord};
use orderflow_http::ApiContext;
use orderflow_http::error::code;
use orderflow_http::response::body_text;
use orderflow_testing::api::{self, Placer};
use orderflow_testing::calls::{Calls, CountedBroker, CountingProxy, Service};
use orderflow_testing::local;
use orderflow_testing::services::LocalServices;
use orderflow_types::{
    EventType, Order, OrderEvent, OrderId, OrderLine, OrderStatus, PaymentTimeout, ProductId,
    Quantity, UserId,
};
use serde_json::{Value, json};

use crate::report::{Row, Stat};
use crate::{Outcome, Settings};

/// The caller of every API request.
const USER: &str = "bench";

/// Stock enough that no run of the figure sells a product out by accident.
const STOCK: u64 = 100_000;

/// What one operation is given to finish in, whatever hangs: a stuck figure fails, it does not
/// stall `make bench`.
const OPERATION_LIMIT: Duration = Duration::from_secs(60);

type Failure = Box<dyn std::error::Error + Send + Sync>;

pub async fn run(settings: &Settings) -> Outcome {
    let runs = settings.runs(20, 2);
    // The local services' test support panics when the setup it is asked for fails (a missing
    // tansu, moto down): here that fails this figure, not the whole bench.
    match tokio::spawn(measure(runs)).await {
        Ok(outcome) => outcome,
        Err(err) if err.is_panic() => Err(format!(
            "figure 1 stopped: {}",
            panic_message(err.into_panic().as_ref())
        )
        .into()),
        Err(err) => Err(format!("figure 1 stopped: {err}").into()),
    }
}

async fn measure(runs: usize) -> Outcome {
    let wire = Wire {
        moto: CountingProxy::before_moto().await,
        broker: local::within(
            Duration::from_secs(30),
            "starting a private broker",
            CountedBroker::start(),
        )
        .await,
    };
    let mut rows = Vec::new();
    rows.extend(created_orders(&wire, runs).await?);
    rows.extend(keyed_orders(&wire, runs).await?);
    rows.extend(sold_out(&wire, runs).await?);
    rows.extend(payments_and_cancellations(&wire, runs).await?);
    rows.extend(consumed(&wire, runs).await?);
    rows.extend(announced(&wire, runs).await?);
    Ok(rows)
}

/// How one run went: its calls, and whether it counts.
#[derive(Debug, Clone)]
enum Ran {
    Done(Calls),
    /// A dependency was too slow for the functions' timeouts: the run is redone.
    Unavailable(Calls),
}

/// The runs of one operation.
#[derive(Debug, Default)]
struct Sample {
    runs: Vec<Calls>,
    unavailable: Vec<Calls>,
}

impl Sample {
    /// Runs `once` until `runs` runs are done. Fails when a run fails, or when more runs than that
    /// (and at least five) found a dependency unavailable: then the services are down, not slow.
    async fn of<F, Fut>(runs: usize, what: &str, mut once: F) -> Result<Self, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Ran, Failure>>,
    {
        let mut sample = Self::default();
        while sample.runs.len() < runs {
            match once().await? {
                Ran::Done(calls) => sample.runs.push(calls),
                Ran::Unavailable(calls) if sample.unavailable.len() < runs.max(5) => {
                    sample.unavailable.push(calls)
                }
                Ran::Unavailable(calls) => {
                    return Err(format!(
                        "{what}: {} runs found a dependency unavailable, the last after {calls}",
                        sample.unavailable.len() + 1
                    )
                    .into());
                }
            }
        }
        Ok(sample)
    }

    /// One warm-up run, uncounted, then `runs` runs: the steady state of a warm context.
    async fn steady<F, Fut>(runs: usize, what: &str, mut once: F) -> Result<Self, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Ran, Failure>>,
    {
        Self::of(1, what, &mut once).await?;
        Self::of(runs, what, once).await
    }
}

/// Both counting proxies: every call an operation makes passes one of them.
struct Wire {
    moto: CountingProxy,
    broker: CountedBroker,
}

impl Wire {
    fn calls(&self) -> Calls {
        &self.moto.calls() + &self.broker.calls()
    }

    /// Runs `operation` (named by `what` should it hang) and returns its output with the calls
    /// it made. Operations run one at a time, so nothing else is counted with it.
    async fn measure<T>(
        &self,
        what: &str,
        operation: impl Future<Output = T>,
    ) -> Result<(T, Calls), Failure> {
        let before = self.calls();
        let output = tokio::time::timeout(OPERATION_LIMIT, operation)
            .await
            .map_err(|_| format!("{what}: no answer within {OPERATION_LIMIT:?}"))?;
        Ok((output, &self.calls() - &before))
    }

    /// Sends an API request (`send`, named by `what`): done if it is answered with `status`,
    /// unavailable if with 503. Any other answer fails the figure, naming the calls it took.
    async fn answer(
        &self,
        what: &str,
        send: impl Future<Output = Result<Response<Body>, Infallible>>,
        status: u16,
    ) -> Result<Ran, Failure> {
        self.answer_checked(what, send, status, |_| Ok(())).await
    }

    /// [`answer`](Self::answer), and `check` of an answer with `status`.
    async fn answer_checked(
        &self,
        what: &str,
        send: impl Future<Output = Result<Response<Body>, Infallible>>,
        status: u16,
        check: impl FnOnce(&Response<Body>) -> Result<(), Failure>,
    ) -> Result<Ran, Failure> {
        let (answered, calls) = self.measure(what, send).await?;
        let response = api::answered(answered);
        match response.status().as_u16() {
            answered if answered == status => {
                check(&response)?;
                Ok(Ran::Done(calls))
            }
            503 => Ok(Ran::Unavailable(calls)),
            other => Err(format!(
                "{what} answered {other} instead of {status}, after {calls}: {}",
                body_text(&response)
            )
            .into()),
        }
    }

    /// An API context on `services`' tables whose DynamoDB and Scheduler clients, new ones, call
    /// through the proxy in front of moto: what a cold start builds.
    async fn api(&self, services: &LocalServices) -> ApiContext<AwsApi> {
        let dynamodb = local::dynamodb_client_at(&self.moto.url()).await;
        let scheduler = local::scheduler_client_at(&self.moto.url()).await;
        api::context(
            DynamoStore::new(dynamodb.clone(), &services.tables),
            DynamoIdempotencyStore::new(dynamodb, &services.tables),
            EventBridgeScheduler::new(scheduler, services.scheduler_config()),
        )
    }

    /// A producer to a fresh topic of the private broker, through its proxy.
    async fn publisher(&self) -> Result<KafkaPublisher, Failure> {
        let config = self.broker.kafka_config();
        let topic = local::within(
            Duration::from_secs(30),
            "creating a topic",
            local::fresh_topic_on(&config, 1),
        )
        .await;
        KafkaPublisher::connect(&config, None, topic.clone())
            .map_err(|err| format!("a producer to {topic}: {err}").into())
    }
}

/// What a row counts of each run's calls.
#[derive(Debug, Clone, Copy)]
enum Count {
    /// Every call to the service.
    Service(Service),
    /// The Produce requests to the broker: what a publish costs. The producer's own traffic
    /// (metadata refreshes) goes to the note.
    Produce,
}

impl Count {
    fn of(self, calls: &Calls) -> usize {
        match self {
            Self::Service(service) => calls.of(service),
            Self::Produce => calls.operation(Service::Kafka, "Produce"),
        }
    }

    fn label(self) -> String {
        match self {
            Self::Service(service) => service.to_string(),
            Self::Produce => "Kafka Produce".into(),
        }
    }

    fn service(self) -> Service {
        match self {
            Self::Service(service) => service,
            Self::Produce => Service::Kafka,
        }
    }
}

/// One row of the figure: what `count` found in each run of `subject`, against `floor` if the
/// figure states one.
fn row(subject: &str, count: Count, sample: &Sample, floor: Option<usize>) -> Option<Row> {
    let values: Vec<f64> = sample
        .runs
        .iter()
        .map(|calls| count.of(calls) as f64)
        .collect();
    let stat = Stat::of(&values)?;
    let mut note = breakdown(&sample.runs, count.service());
    if !sample.unavailable.is_empty() {
        note.push_str(&format!(
            "; redone, a dependency unavailable: {}",
            breakdown(&sample.unavailable, count.service())
        ));
    }
    let row = Row::new(1, format!("{subject}: {}", count.label()), "calls", stat).note(note);
    Some(match floor {
        Some(floor) => row
            .against("floor", Stat::exact(floor as f64, 1))
            .meets(stat.p99 <= floor as f64),
        None => row,
    })
}

/// The calls to `service` by operation, each different mix with the number of runs it was seen
/// in, the most frequent first: "DynamoDB GetItem×2, DynamoDB TransactWriteItems×1 (every run)".
fn breakdown(runs: &[Calls], service: Service) -> String {
    let mut mixes: BTreeMap<String, usize> = BTreeMap::new();
    for calls in runs {
        *mixes.entry(calls.only(service).to_string()).or_default() += 1;
    }
    if let (1, Some(mix)) = (mixes.len(), mixes.keys().next()) {
        return match runs.len() {
            1 => format!("{mix} (1 run)"),
            _ => format!("{mix} (every run)"),
        };
    }
    let mut mixes: Vec<_> = mixes.into_iter().collect();
    mixes.sort_by(|(_, a), (_, b)| b.cmp(a));
    mixes
        .iter()
        .map(|(mix, n)| format!("{mix} ({n} of {} runs)", runs.len()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The rows of `subject` that exist: a sample has at least one run.
fn rows(subject: &str, sample: &Sample, counts: &[(Count, Option<usize>)]) -> Vec<Row> {
    counts
        .iter()
        .filter_map(|&(count, floor)| row(subject, count, sample, floor))
        .collect()
}

/// Fresh tables, a schedule group, and two products in stock.
async fn stocked() -> (LocalServices, [ProductId; 2]) {
    let services = LocalServices::new(1).await;
    let beans = services.product("beans", 250, STOCK).await;
    let grinder = services.product("grinder", 4_000, STOCK).await;
    (services, [beans, grinder])
}

const DYNAMODB: Count = Count::Service(Service::DynamoDb);
const SCHEDULER: Count = Count::Service(Service::Scheduler);

/// `POST /orders` without a key: the first order of a fresh context each run (its caches cold),
/// then orders on one warm context.
async fn created_orders(wire: &Wire, runs: usize) -> Result<Vec<Row>, Failure> {
    let (services, [beans, grinder]) = stocked().await;
    let services = &services;
    let order = || api::order_request(USER, &[(&beans, 1), (&grinder, 1)]).build();
    let what = "a created order";
    let cold = Sample::of(runs, what, || async {
        let context = wire.api(services).await;
        let send = create_order::handle(&context, order());
        wire.answer(what, send, 201).await
    })
    .await?;
    let context = &wire.api(services).await;
    let steady = Sample::steady(runs, what, || {
        wire.answer(what, create_order::handle(context, order()), 201)
    })
    .await?;
    let mut measured = rows(
        "created order, first on a fresh context (cold cache)",
        &cold,
        &[(DYNAMODB, None), (SCHEDULER, None)],
    );
    measured.extend(rows(
        "created order",
        &steady,
        &[
            (DYNAMODB, Some(1)),
            (SCHEDULER, Some(1)),
            (Count::Service(Service::Kafka), Some(0)),
        ],
    ));
    Ok(measured)
}

/// `POST /orders` with a fresh `Idempotency-Key` each: the key's claim and completion on top of
/// the order.
async fn keyed_orders(wire: &Wire, runs: usize) -> Result<Vec<Row>, Failure> {
    let (services, [beans, grinder]) = stocked().await;
    let order = || {
        api::order_request(USER, &[(&beans, 1), (&grinder, 1)])
            .idempotency_key(&local::unique_name("key"))
            .build()
    };
    let context = &wire.api(&services).await;
    let what = "a keyed order";
    let steady = Sample::steady(runs, what, || {
        wire.answer(what, create_order::handle(context, order()), 201)
    })
    .await?;
    Ok(rows(
        "created order with Idempotency-Key",
        &steady,
        &[(DYNAMODB, Some(3)), (SCHEDULER, Some(1))],
    ))
}

/// An order one of whose lines asks for more than the stock: 409 naming what was available, and
/// nothing reserved or scheduled. The first attempt on a fresh context each run, then attempts
/// on one context after a first one.
async fn sold_out(wire: &Wire, runs: usize) -> Result<Vec<Row>, Failure> {
    let (services, [beans, _]) = stocked().await;
    let services = &services;
    let mug = services.product("mug", 1_200, 1).await;
    let attempt = || api::order_request(USER, &[(&beans, 1), (&mug, 2)]).build();
    let expected = json!([{"product_id": "mug", "requested": 2, "available": 1}]);
    let names_the_shortage = |response: &Response<Body>| -> Result<(), Failure> {
        let body: Value = serde_json::from_str(body_text(response))
            .map_err(|err| format!("a sold-out attempt answered no JSON: {err}"))?;
        if body["code"] != code::OUT_OF_STOCK || body["details"]["shortages"] != expected {
            return Err(format!(
                "a sold-out attempt should name the mug's 1 available unit: {body}"
            )
            .into());
        }
        Ok(())
    };
    let what = "a sold-out attempt";
    let first = Sample::of(runs, what, || async {
        let context = wire.api(services).await;
        let send = create_order::handle(&context, attempt());
        wire.answer_checked(what, send, 409, names_the_shortage)
            .await
    })
    .await?;
    let context = &wire.api(services).await;
    let steady = Sample::steady(runs, what, || {
        let send = create_order::handle(context, attempt());
        wire.answer_checked(what, send, 409, names_the_shortage)
    })
    .await?;
    let (mugs, beans_left) = (services.stock(&mug).await, services.stock(&beans).await);
    if (mugs, beans_left) != (1, STOCK) {
        return Err(format!(
            "sold-out attempts reserved stock: mug {mugs} of 1, beans {beans_left} of {STOCK}"
        )
        .into());
    }
    let mut measured = rows(
        "sold-out attempt, first on a fresh context",
        &first,
        &[(DYNAMODB, None), (SCHEDULER, None)],
    );
    measured.extend(rows(
        "sold-out attempt",
        &steady,
        &[(DYNAMODB, Some(1)), (SCHEDULER, Some(0))],
    ));
    Ok(measured)
}

/// `POST /orders/{id}/pay` and `/cancel` on one warm context, each for an order placed
/// beforehand, uncounted.
async fn payments_and_cancellations(wire: &Wire, runs: usize) -> Result<Vec<Row>, Failure> {
    let (services, [beans, grinder]) = stocked().await;
    let placer = &Placer::new(&services);
    let lines = [(&beans, 1), (&grinder, 1)];
    let lines = &lines;
    let context = &wire.api(&services).await;
    let paid = Sample::steady(runs, "a payment", || async move {
        let order = placer.place(USER, lines).await;
        let pay = orders_api::handle(context, api::pay(USER, &order.order_id).build());
        wire.answer("a payment", pay, 200).await
    })
    .await?;
    let cancelled = Sample::steady(runs, "a customer cancellation", || async move {
        let order = placer.place(USER, lines).await;
        let cancel = orders_api::handle(context, api::cancel(USER, &order.order_id).build());
        wire.answer("a customer cancellation", cancel, 200).await
    })
    .await?;
    let mut measured = rows("payment", &paid, &[(DYNAMODB, None), (SCHEDULER, None)]);
    measured.extend(rows(
        "customer cancel",
        &cancelled,
        &[(DYNAMODB, None), (SCHEDULER, None)],
    ));
    Ok(measured)
}

/// What order-events is handed, and the orders its events are about.
struct Consumption {
    services: LocalServices,
    products: [ProductId; 2],
    deps: ConsumerDeps<AwsConsumer>,
    /// Cancels and pays the orders the events are about, directly: not what is measured.
    direct: ApiContext<AwsApi>,
    bootstrap_servers: String,
    user: UserId,
}

impl Consumption {
    /// One record of `event_type` about a fresh order in the state the event finds it in:
    /// `created` (PENDING), `cancelled` (cancelled by its customer), `timeout` (PENDING past its
    /// deadline), `paid` (PAID). Done if the batch is done, unavailable if the handler left the
    /// record for redelivery.
    async fn one(&self, wire: &Wire, event_type: EventType) -> Result<Ran, Failure> {
        let order_id = match event_type {
            EventType::Timeout => self.overdue().await?,
            _ => {
                let [beans, grinder] = &self.products;
                let placer = Placer::new(&self.services);
                placer
                    .place(USER, &[(beans, 1), (grinder, 1)])
                    .await
                    .order_id
            }
        };
        let settle = match event_type {
            EventType::Cancelled => Some(api::cancel(USER, &order_id)),
            EventType::Paid => Some(api::pay(USER, &order_id)),
            _ => None,
        };
        if let Some(request) = settle {
            let response = api::answered(orders_api::handle(&self.direct, request.build()).await);
            if response.status() != 200 {
                return Err(format!(
                    "settling {order_id} answered {}: {}",
                    response.status(),
                    body_text(&response)
                )
                .into());
            }
        }
        let event = OrderEvent::new(order_id.clone(), self.user.clone(), event_type, Utc::now());
        let record = RawRecord {
            topic: "order-events".into(),
            partition: 0,
            offset: 0,
            key: Some(order_id.as_str().as_bytes().to_vec()),
            value: Some(serde_json::to_vec(&event)?),
            headers: Vec::new(),
        };
        let batch = KafkaEventBuilder::new(
            "arn:aws:kafka:us-east-1:123456789012:cluster/orderflow/1",
            &self.bootstrap_servers,
        )
        .record(&record, Utc::now().timestamp_millis())
        .build();
        let what = format!("a `{}` record", event_type.as_str());
        let invocation = LambdaEvent::new(batch, Context::default());
        let (handled, calls) = wire
            .measure(&what, order_events::handle(&self.deps, invocation))
            .await?;
        let response = handled.map_err(|err| format!("{what}: {err}"))?;
        if response != KafkaBatchResponse::default() {
            return Ok(Ran::Unavailable(calls));
        }
        if event_type == EventType::Timeout {
            let order = self.services.store().get_order(&order_id).await?;
            let status = order.map(|order| order.status);
            if status != Some(OrderStatus::Cancelled) {
                return Err(format!("a timeout left its order {status:?}, not cancelled").into());
            }
        }
        Ok(Ran::Done(calls))
    }

    /// A PENDING order of one bean whose payment deadline passed a minute ago, stored directly.
    async fn overdue(&self) -> Result<OrderId, Failure> {
        let now = Utc::now();
        let line = OrderLine {
            product_id: self.products[0].clone(),
            quantity: Quantity::new(1)?,
            unit_price_cents: 250,
        };
        let order = Order::new_pending(
            OrderId::generate(),
            self.user.clone(),
            vec![line],
            now - TimeDelta::minutes(31),
            now - TimeDelta::minutes(1),
        );
        self.services.store().place_order(&order).await?;
        Ok(order.order_id)
    }
}

/// order-events handling one record of each event type. The consumer's store calls through the
/// proxy in front of moto, its dead-letter producer through the broker's.
async fn consumed(wire: &Wire, runs: usize) -> Result<Vec<Row>, Failure> {
    let (services, products) = stocked().await;
    let dead_letters = wire.publisher().await?;
    let dead_letter_topic = dead_letters.topic().to_owned();
    let consumption = Consumption {
        deps: ConsumerDeps {
            consumer: EventConsumer {
                store: DynamoStore::new(
                    local::dynamodb_client_at(&wire.moto.url()).await,
                    &services.tables,
                ),
                dead_letters: KafkaDeadLetters::new(dead_letters, dead_letter_topic),
                clock: SystemClock,
            },
            report_batch_item_failures: true,
        },
        direct: api::healthy(&services),
        bootstrap_servers: wire.broker.kafka_config().bootstrap_servers,
        user: UserId::parse(USER).map_err(|err| format!("{USER}: {err}"))?,
        services,
        products,
    };
    let mut measured = Vec::new();
    for (event_type, floor) in [
        (EventType::Created, 1),
        (EventType::Cancelled, 1),
        (EventType::Timeout, 2),
        (EventType::Paid, 2),
    ] {
        let name = event_type.as_str();
        let sample = Sample::steady(runs, &format!("a `{name}` record"), || {
            consumption.one(wire, event_type)
        })
        .await?;
        measured.extend(rows(
            &format!("order-events, one `{name}` record"),
            &sample,
            &[(DYNAMODB, Some(floor)), (Count::Produce, Some(0))],
        ));
    }
    Ok(measured)
}

/// order-stream handling one INSERT (an order created), and order-timeout one fired timeout:
/// the Produce requests each publish costs.
async fn announced(wire: &Wire, runs: usize) -> Result<Vec<Row>, Failure> {
    let publisher = &wire.publisher().await?;
    let user = UserId::parse(USER).map_err(|err| format!("{USER}: {err}"))?;
    let product = ProductId::parse("beans").map_err(|err| format!("beans: {err}"))?;
    let pending = || -> Result<Order, Failure> {
        let now = Utc::now();
        let line = OrderLine {
            product_id: product.clone(),
            quantity: Quantity::new(1)?,
            unit_price_cents: 250,
        };
        Ok(Order::new_pending(
            OrderId::generate(),
            user.clone(),
            vec![line],
            now,
            now + TimeDelta::minutes(30),
        ))
    };

    let what = "an INSERT record";
    let mut sequence_number = 100_000_000_000_000_000_000_u128;
    let changes = Sample::steady(runs, what, || {
        sequence_number += 1;
        let invocation = pending().and_then(|order| insert(&order, sequence_number));
        async move {
            let invocation = invocation?;
            let (handled, calls) = wire
                .measure(what, order_stream::handle(publisher, invocation))
                .await?;
            let response = handled.map_err(|err| format!("{what}: {err}"))?;
            if response != StreamBatchResponse::default() {
                return Err(format!("{what} was not announced: {response:?}").into());
            }
            Ok(Ran::Done(calls))
        }
    })
    .await?;

    // The reserve only matters to an early invocation; every timeout here is due.
    let deps = &order_timeout::Deps::new(publisher.clone(), Duration::from_secs(6));
    let what = "a fired timeout";
    let timeouts = Sample::steady(runs, what, || {
        let order = pending();
        async move {
            let order = order?;
            let timeout = PaymentTimeout {
                order_id: order.order_id,
                user_id: order.user_id,
                payment_due_at: Utc::now() - TimeDelta::seconds(1),
            };
            let invocation = LambdaEvent::new(serde_json::to_value(&timeout)?, Context::default());
            let (handled, calls) = wire
                .measure(what, order_timeout::handle(deps, invocation))
                .await?;
            handled.map_err(|err| format!("{what}: {err}"))?;
            Ok(Ran::Done(calls))
        }
    })
    .await?;

    let mut measured = rows(
        "order-stream, one status change (INSERT)",
        &changes,
        &[(Count::Produce, Some(1))],
    );
    measured.extend(rows(
        "order-timeout, one fired timeout",
        &timeouts,
        &[(Count::Produce, Some(1))],
    ));
    Ok(measured)
}

/// The DynamoDB Streams event of `order` inserted, as the event source mapping delivers it.
fn insert(order: &Order, sequence_number: u128) -> Result<LambdaEvent<Value>, Failure> {
    let record = json!({
        "eventID": format!("{sequence_number:032x}"),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/bench-orders/stream/2026-01-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": Utc::now().timestamp(),
            "Keys": {"order_id": {"S": order.order_id.as_str()}},
            "NewImage": order_image(order)?,
            "SequenceNumber": sequence_number.to_string(),
            "SizeBytes": 240,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    });
    Ok(LambdaEvent::new(
        json!({ "Records": [record] }),
        Context::default(),
    ))
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(list: &[(Service, &str, usize)]) -> Calls {
        list.iter().copied().collect()
    }

    #[test]
    fn a_row_meets_its_floor_by_its_p99_and_notes_the_mixes_seen() {
        let usual = calls(&[
            (Service::DynamoDb, "TransactWriteItems", 1),
            (Service::Scheduler, "CreateSchedule", 1),
        ]);
        let retried = calls(&[
            (Service::DynamoDb, "TransactWriteItems", 2),
            (Service::Scheduler, "CreateSchedule", 1),
        ]);
        let sample = Sample {
            runs: vec![usual.clone(), usual.clone(), retried],
            unavailable: vec![calls(&[(Service::DynamoDb, "TransactWriteItems", 2)])],
        };
        let dynamodb = row("x", DYNAMODB, &sample, Some(1)).unwrap();
        assert_eq!((dynamodb.value.median, dynamodb.value.p99), (1.0, 2.0));
        assert_eq!(dynamodb.meets, Some(false));
        assert_eq!(
            dynamodb.note,
            "DynamoDB TransactWriteItems×1 (2 of 3 runs); DynamoDB TransactWriteItems×2 (1 of 3 \
             runs); redone, a dependency unavailable: DynamoDB TransactWriteItems×2 (1 run)"
        );
        let scheduler = row("x", SCHEDULER, &sample, Some(1)).unwrap();
        assert_eq!(scheduler.meets, Some(true));
        assert_eq!(
            scheduler.note,
            "Scheduler CreateSchedule×1 (every run); redone, a dependency unavailable: no calls \
             (1 run)"
        );
        assert_eq!(scheduler.subject, "x: Scheduler");
        let kafka = row("x", Count::Produce, &sample, None).unwrap();
        assert_eq!((kafka.value.p99, kafka.meets), (0.0, None));
        assert_eq!(
            kafka.note,
            "no calls (every run); redone, a dependency unavailable: no calls (1 run)"
        );
        assert!(row("x", Count::Produce, &Sample::default(), Some(0)).is_none());
    }

    #[tokio::test]
    async fn a_run_found_unavailable_is_redone_and_kept_apart() {
        let slow = calls(&[(Service::DynamoDb, "TransactWriteItems", 2)]);
        let usual = calls(&[(Service::DynamoDb, "TransactWriteItems", 1)]);
        let mut outcomes = vec![
            Ran::Done(usual.clone()),
            Ran::Unavailable(slow.clone()),
            Ran::Done(usual.clone()),
        ]
        .into_iter();
        let sample = Sample::of(2, "x", || {
            let next = outcomes.next().ok_or_else(|| "no more runs".into());
            async move { next }
        })
        .await
        .unwrap();
        assert_eq!(sample.runs, [usual.clone(), usual]);
        assert_eq!(sample.unavailable, std::slice::from_ref(&slow));

        let always_slow = Sample::of(2, "an order", || {
            let slow = slow.clone();
            async move { Ok(Ran::Unavailable(slow)) }
        })
        .await
        .unwrap_err();
        assert_eq!(
            always_slow.to_string(),
            "an order: 6 runs found a dependency unavailable, the last after DynamoDB \
             TransactWriteItems×2"
        );
    }
}
