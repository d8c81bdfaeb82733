//! Figure 2: how long placing an order (create-order) and paying it (orders-api) take, each
//! handler driven in-process at 1 and 8 concurrent clients, as a ratio to a bare loop, measured in
//! the same run, that issues directly with the SDK exactly the remote calls the operation cannot
//! avoid:
//!
//! - a created order: one `CreateSchedule` (its payment timeout) and one `TransactWriteItems` (the
//!   order, and a conditional stock reservation per line), shaped as the adapters shape them;
//! - a payment: `GetItem` of the order, the conditional `UpdateItem` to PAID, `DeleteSchedule`.
//!
//! The ratio is what the function adds to that floor: parsing and validating the request, the
//! domain's checks, the answer's JSON, and any remote call beyond the floor.
//!
//! moto serves one call at a time, and a transaction deep-copies every table it touches, stream
//! records included, so its latency grows with the tables. Each side of a measurement therefore
//! runs on fresh tables of its own, seeded alike and written by the same number of operations, and
//! the two sides take turns in short rounds, so that a drift of the machine, or a burst of someone
//! else's calls to moto, weighs on both alike.
//!
//! The local stack each side runs on ([`Stack`]) and the items the store adapter writes ([`attr`])
//! serve figure 3 too.

use std::collections::{HashMap, VecDeque};
use std::error::Error;
use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, PutRequest, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use futures::future::join_all;
use lambda_http::{Body, Request, Response};
use orderflow_adapters::api::AwsApi;
use orderflow_adapters::dynamodb::schema::{TableNames, table};
use orderflow_adapters::dynamodb::{DynamoIdempotencyStore, DynamoStore, admin};
use orderflow_adapters::scheduler::{
    EventBridgeScheduler, SchedulerConfig, at_expression, schedule_name,
};
use orderflow_domain::error::cause_chain;
use orderflow_domain::ports::ProductStore;
use orderflow_http::ApiContext;
use orderflow_testing::api::{PAYMENT_TIMEOUT, answered, context, order_request, pay};
use orderflow_testing::local::{self, unique_name};
use orderflow_types::{
    Order, OrderId, OrderLine, OrderStatus, PaymentTimeout, Product, ProductId, Quantity, UserId,
    time,
};

use crate::report::{Row, Stat};
use crate::{Outcome, Settings};

pub(crate) type BoxError = Box<dyn Error + Send + Sync>;

/// Requests each side sends, untimed, before it is measured: the first requests of a context
/// connect its clients and fill its caches, which a warm Lambda has done long before.
const WARM_UP: usize = 3;

/// Requests each client sends in a round; the sides take turns round by round, as [`alternate`]
/// says. Short rounds, a fraction of a second to a second or two, keep a burst of someone else's
/// load on moto from falling on one side only.
const PER_CLIENT_AND_ROUND: usize = 5;

/// The products every order of figures 2 and 3 buys, one unit of each: (id, price in cents).
const PRODUCTS: [(&str, u64); 2] = [("bench-espresso", 1250), ("bench-grinder", 8900)];
/// Each product's stock: ample, so that no order is refused for it.
const STOCK: u64 = 1_000_000_000;

/// The customer placing and paying every order of figure 2.
const CUSTOMER: &str = "auth0|bench-customer";

pub async fn run(settings: &Settings) -> Outcome {
    let requests = settings.runs(200, 5);
    let mut rows = Vec::new();
    for clients in [1, 8] {
        rows.push(create_orders(clients, requests).await?);
    }
    for clients in [1, 8] {
        rows.push(pay_orders(clients, requests).await?);
    }
    Ok(rows)
}

/// create-order against one `CreateSchedule` and one `TransactWriteItems` per order.
async fn create_orders(clients: usize, requests: usize) -> Result<Row, BoxError> {
    let (function_stack, bare_stack) = Stack::pair().await?;
    let measured = async {
        let products = function_stack.seed_products().await?;
        bare_stack.seed_products().await?;
        let items: Vec<(&ProductId, u64)> = products.iter().map(|p| (&p.product_id, 1)).collect();
        let api = function_stack.api();
        let bare = Bare::new(&bare_stack)?;
        for _ in 0..WARM_UP {
            create_order(&api, order_request(CUSTOMER, &items).build()).await?;
            bare.create(&products).await?;
        }
        alternate(
            requests,
            clients,
            async |count| {
                let requests = (0..count)
                    .map(|_| order_request(CUSTOMER, &items).build())
                    .collect();
                drive(clients, requests, |request| create_order(&api, request)).await
            },
            async |count| {
                let jobs = vec![(); count];
                drive(clients, jobs, |()| async {
                    bare.create(&products).await.map(drop)
                })
                .await
            },
        )
        .await
    }
    .await;
    remove([function_stack, bare_stack]).await;
    let (function, bare) = measured?;
    row(format!("create-order, {}", plural(clients)), function, bare)
}

/// orders-api's `POST /orders/{id}/pay` against `GetItem`, `UpdateItem` and `DeleteSchedule`.
async fn pay_orders(clients: usize, requests: usize) -> Result<Row, BoxError> {
    let (function_stack, bare_stack) = Stack::pair().await?;
    let measured = async {
        let products = function_stack.seed_products().await?;
        bare_stack.seed_products().await?;
        // Each side's orders to pay, alike on its own tables, untimed.
        let (function_setup, bare) = (Bare::new(&function_stack)?, Bare::new(&bare_stack)?);
        let mut function_orders = function_setup
            .prepare(&products, WARM_UP + requests)
            .await?;
        let mut bare_orders = bare.prepare(&products, WARM_UP + requests).await?;
        let api = function_stack.api();
        for _ in 0..WARM_UP {
            pay_order(&api, pay_request(next_order(&mut function_orders)?)).await?;
            bare.pay(next_order(&mut bare_orders)?).await?;
        }
        alternate(
            requests,
            clients,
            async |count| {
                let requests = (0..count)
                    .map(|_| next_order(&mut function_orders).map(pay_request))
                    .collect::<Result<_, _>>()?;
                drive(clients, requests, |request| pay_order(&api, request)).await
            },
            async |count| {
                let orders = (0..count)
                    .map(|_| next_order(&mut bare_orders))
                    .collect::<Result<_, _>>()?;
                drive(clients, orders, |order| bare.pay(order)).await
            },
        )
        .await
    }
    .await;
    remove([function_stack, bare_stack]).await;
    let (function, bare) = measured?;
    row(
        format!("orders-api pay, {}", plural(clients)),
        function,
        bare,
    )
}

fn plural(clients: usize) -> String {
    match clients {
        1 => "1 client".into(),
        n => format!("{n} clients"),
    }
}

fn row(subject: String, function: Sample, bare: Sample) -> Result<Row, BoxError> {
    let stat = |sample: &Sample| {
        Stat::of(&sample.latencies_ms).ok_or_else(|| format!("{subject}: no request measured"))
    };
    Ok(Row::new(2, subject.clone(), "ms", stat(&function)?)
        .against("bare SDK loop", stat(&bare)?)
        .note(format!(
            "{:.0} req/s, bare {:.0} req/s",
            function.per_second(),
            bare.per_second()
        )))
}

/// The next order of `orders`: they were placed for as many requests as are sent.
fn next_order(orders: &mut VecDeque<OrderId>) -> Result<OrderId, BoxError> {
    orders
        .pop_front()
        .ok_or_else(|| "fewer orders placed than requests sent".into())
}

fn pay_request(order: OrderId) -> Request {
    pay(CUSTOMER, &order).build()
}

async fn create_order(api: &ApiContext<AwsApi>, request: Request) -> Result<(), BoxError> {
    let response = answered(create_order::handle(api, request).await);
    expect(&response, 201, "create-order")
}

async fn pay_order(api: &ApiContext<AwsApi>, request: Request) -> Result<(), BoxError> {
    let response = answered(orders_api::handle(api, request).await);
    expect(&response, 200, "orders-api pay")
}

/// Whether the handler answered `status`: anything else is a failed measurement, not a slow one.
fn expect(response: &Response<Body>, status: u16, handler: &str) -> Result<(), BoxError> {
    if response.status() == status {
        return Ok(());
    }
    Err(format!(
        "{handler} answered {} instead of {status}: {}",
        response.status(),
        String::from_utf8_lossy(response.body())
    )
    .into())
}

/// What one side of a measurement gave: the latency of each request, in milliseconds, and the
/// wall time of the rounds that sent them.
#[derive(Debug, Default)]
struct Sample {
    latencies_ms: Vec<f64>,
    wall: Duration,
}

impl Sample {
    fn absorb(&mut self, round: Sample) {
        self.latencies_ms.extend(round.latencies_ms);
        self.wall += round.wall;
    }

    fn per_second(&self) -> f64 {
        self.latencies_ms.len() as f64 / self.wall.as_secs_f64().max(f64::EPSILON)
    }
}

/// How many of `requests` each round sends: [`PER_CLIENT_AND_ROUND`] per client, the rest in the
/// last round.
fn round_sizes(requests: usize, clients: usize) -> impl Iterator<Item = usize> {
    let per_round = PER_CLIENT_AND_ROUND * clients.max(1);
    (0..requests.div_ceil(per_round)).map(move |round| per_round.min(requests - round * per_round))
}

/// Sends `requests` requests from `clients` clients through `function` and as many through
/// `bare`, round by round, taking turns function, bare, bare, function, function, bare, ...: a
/// drift of the machine over the measurement, or another load on moto, weighs on both alike.
async fn alternate(
    requests: usize,
    clients: usize,
    mut function: impl AsyncFnMut(usize) -> Result<Sample, BoxError>,
    mut bare: impl AsyncFnMut(usize) -> Result<Sample, BoxError>,
) -> Result<(Sample, Sample), BoxError> {
    let (mut by_function, mut by_bare) = (Sample::default(), Sample::default());
    for (round, count) in round_sizes(requests, clients).enumerate() {
        if round % 2 == 0 {
            by_function.absorb(function(count).await?);
            by_bare.absorb(bare(count).await?);
        } else {
            by_bare.absorb(bare(count).await?);
            by_function.absorb(function(count).await?);
        }
    }
    Ok((by_function, by_bare))
}

/// `jobs` dealt out to `clients` clients (job `i` to client `i % clients`).
fn deal<J>(clients: usize, jobs: Vec<J>) -> Vec<Vec<J>> {
    let mut shares: Vec<Vec<J>> = std::iter::repeat_with(Vec::new)
        .take(clients.max(1))
        .collect();
    let count = shares.len();
    for (i, job) in jobs.into_iter().enumerate() {
        shares[i % count].push(job);
    }
    shares
}

/// Sends `jobs` from `clients` concurrent clients, each sending its share one request at a time,
/// as that many callers each waiting for their answer would: each request's latency, and the wall
/// time of them all. Every client is a future of this task, for the function and the bare loop
/// alike; the remote calls, not this task, are what takes the time.
async fn drive<J, F, Fut>(clients: usize, jobs: Vec<J>, send: F) -> Result<Sample, BoxError>
where
    F: Fn(J) -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    let send = &send;
    let started = Instant::now();
    let by_client = join_all(deal(clients, jobs).into_iter().map(|share| async move {
        let mut latencies = Vec::with_capacity(share.len());
        for job in share {
            let sent = Instant::now();
            send(job).await?;
            latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
        Ok::<_, BoxError>(latencies)
    }))
    .await;
    let mut sample = Sample {
        latencies_ms: Vec::new(),
        wall: started.elapsed(),
    };
    for latencies in by_client {
        sample.latencies_ms.extend(latencies?);
    }
    Ok(sample)
}

/// A failed remote call, with what it was for and the SDK's whole cause chain (an SDK error alone
/// displays as little more than "service error").
pub(crate) fn failed(action: impl Display, err: impl Error) -> BoxError {
    format!("{action}: {}", DisplayErrorContext(err)).into()
}

/// Attribute names of the items the store adapter writes (its codec is private to it): the bare
/// loops write and read the same items, of the same size.
pub(crate) mod attr {
    pub const PRODUCT_ID: &str = "product_id";
    pub const PRICE_CENTS: &str = "price_cents";
    pub const STOCK: &str = "stock";
    pub const ORDER_ID: &str = "order_id";
    pub const USER_ID: &str = "user_id";
    pub const STATUS: &str = "status";
    pub const LINES: &str = "lines";
    pub const QUANTITY: &str = "quantity";
    pub const UNIT_PRICE_CENTS: &str = "unit_price_cents";
    pub const TOTAL_CENTS: &str = "total_cents";
    pub const CREATED_AT: &str = "created_at";
    pub const UPDATED_AT: &str = "updated_at";
    pub const PAYMENT_DUE_AT: &str = "payment_due_at";
    pub const CANCEL_REASON: &str = "cancel_reason";
    pub const NOTIFICATION_ID: &str = "notification_id";
    pub const KIND: &str = "kind";
    pub const MESSAGE: &str = "message";
    pub const STAT_KEY: &str = "stat_key";
    pub const PAID_ORDERS: &str = "paid_orders";
    pub const REVENUE_CENTS: &str = "revenue_cents";
    pub const UNITS_SOLD: &str = "units_sold";
    pub const PAID_AT: &str = "paid_at";
}

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// `order` as the store adapter stores it.
fn order_item(order: &Order) -> Item {
    let lines = order
        .lines
        .iter()
        .map(|line| {
            AttributeValue::M(HashMap::from([
                (attr::PRODUCT_ID.into(), s(line.product_id.as_str())),
                (attr::QUANTITY.into(), n(line.quantity.get())),
                (attr::UNIT_PRICE_CENTS.into(), n(line.unit_price_cents)),
            ]))
        })
        .collect();
    let mut item = HashMap::from([
        (attr::ORDER_ID.into(), s(order.order_id.as_str())),
        (attr::USER_ID.into(), s(order.user_id.as_str())),
        (attr::STATUS.into(), s(order.status.as_str())),
        (attr::LINES.into(), AttributeValue::L(lines)),
        (attr::TOTAL_CENTS.into(), n(order.total_cents)),
        (attr::CREATED_AT.into(), s(time::format(&order.created_at))),
        (attr::UPDATED_AT.into(), s(time::format(&order.updated_at))),
        (
            attr::PAYMENT_DUE_AT.into(),
            s(time::format(&order.payment_due_at)),
        ),
    ]);
    if let Some(reason) = order.cancel_reason {
        item.insert(attr::CANCEL_REASON.into(), s(reason.as_str()));
    }
    item
}

/// The string attribute `name` of `item`.
pub(crate) fn text<'a>(item: &'a Item, name: &str) -> Result<&'a str, BoxError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(format!("an item without the string attribute {name}").into()),
    }
}

/// [`PRODUCTS`], each with [`STOCK`].
pub(crate) fn catalogue() -> Result<Vec<Product>, BoxError> {
    PRODUCTS
        .into_iter()
        .map(|(id, price_cents)| {
            Ok(Product {
                product_id: ProductId::parse(id).map_err(|err| format!("{id}: {err}"))?,
                name: format!("Bench {id}"),
                price_cents,
                stock: STOCK,
            })
        })
        .collect()
}

/// One unit of each of `products`, at its price.
pub(crate) fn one_of_each(products: &[Product]) -> Result<Vec<OrderLine>, BoxError> {
    let one = Quantity::new(1).map_err(|err| format!("a quantity of 1: {err}"))?;
    Ok(products
        .iter()
        .map(|product| OrderLine {
            product_id: product.product_id.clone(),
            quantity: one,
            unit_price_cents: product.price_cents,
        })
        .collect())
}

/// What one side of a measurement runs on: fresh tables and a schedule group on moto, under names
/// no other run uses, with the clients the tests use. Not the functions' own timeouts: moto serves
/// everyone's calls one at a time, and a call that waits its turn behind another test's would
/// time out and fail the figure for a load that is not the function's.
pub(crate) struct Stack {
    pub tables: TableNames,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub scheduler_config: SchedulerConfig,
}

impl Stack {
    async fn new() -> Result<Self, BoxError> {
        if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
            return Err(
                "AWS_ENDPOINT_URL is not set: figures 2 and 3 run against the local \
                        services (moto), never against AWS"
                    .into(),
            );
        }
        let dynamodb = local::dynamodb_client().await;
        let scheduler = local::scheduler_client().await;
        let tables = TableNames::with_prefix(format!("{}-", unique_name("bench")));
        admin::create_tables(&dynamodb, &tables)
            .await
            .map_err(|err| {
                format!(
                    "creating tables {}*: {}",
                    tables.prefix(),
                    cause_chain(&err)
                )
            })?;
        let group_name = unique_name("bench-timeouts");
        scheduler
            .create_schedule_group()
            .name(&group_name)
            .send()
            .await
            .map_err(|err| failed(format!("creating schedule group {group_name}"), err))?;
        Ok(Self {
            tables,
            dynamodb,
            scheduler,
            scheduler_config: SchedulerConfig {
                group_name,
                target_arn: "arn:aws:lambda:us-east-1:123456789012:function:order-timeout".into(),
                role_arn: "arn:aws:iam::123456789012:role/orderflow-scheduler".into(),
                dead_letter_arn: Some(
                    "arn:aws:sqs:us-east-1:123456789012:orderflow-timeouts-dlq".into(),
                ),
                max_retry_attempts: 185,
                max_event_age: Duration::from_secs(24 * 60 * 60),
            },
        })
    }

    /// A stack for each side of a measurement: the function's and the bare loop's.
    pub async fn pair() -> Result<(Self, Self), BoxError> {
        let function = Self::new().await?;
        match Self::new().await {
            Ok(bare) => Ok((function, bare)),
            Err(err) => {
                remove([function]).await;
                Err(err)
            }
        }
    }

    pub fn name(&self, logical: &str) -> String {
        self.tables.name(logical)
    }

    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.dynamodb.clone(), &self.tables)
    }

    /// The API functions' context on this stack, built as their tests build it.
    fn api(&self) -> ApiContext<AwsApi> {
        context(
            self.store(),
            DynamoIdempotencyStore::new(self.dynamodb.clone(), &self.tables),
            EventBridgeScheduler::new(self.scheduler.clone(), self.scheduler_config.clone()),
        )
    }

    /// Puts the [`catalogue`].
    pub async fn seed_products(&self) -> Result<Vec<Product>, BoxError> {
        let store = self.store();
        let products = catalogue()?;
        for product in &products {
            store.put_product(product).await.map_err(|err| {
                format!(
                    "putting product {}: {}",
                    product.product_id,
                    cause_chain(&err)
                )
            })?;
        }
        Ok(products)
    }

    /// Puts `orders` as they are, 25 to a `BatchWriteItem`: orders to act on, in far fewer calls
    /// than placing them one by one, and without transactions, whose cost on moto grows with the
    /// table.
    pub async fn put_orders<'o>(
        &self,
        orders: impl IntoIterator<Item = &'o Order>,
    ) -> Result<(), BoxError> {
        let table = self.name(table::ORDERS);
        let puts: Vec<WriteRequest> = orders
            .into_iter()
            .map(|order| {
                let put = PutRequest::builder()
                    .set_item(Some(order_item(order)))
                    .build()
                    .map_err(|err| failed("building an order's put", err))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, BoxError>>()?;
        for chunk in puts.chunks(25) {
            let mut unprocessed = chunk.to_vec();
            // DynamoDB may hand back part of a batch to send again; moto never throttles, so a
            // few rounds are plenty.
            for _ in 0..5 {
                if unprocessed.is_empty() {
                    break;
                }
                let written = self
                    .dynamodb
                    .batch_write_item()
                    .request_items(&table, unprocessed)
                    .send()
                    .await
                    .map_err(|err| failed("putting orders", err))?;
                unprocessed = written
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&table))
                    .unwrap_or_default();
            }
            if !unprocessed.is_empty() {
                return Err(format!("{} orders were never put", unprocessed.len()).into());
            }
        }
        Ok(())
    }

    /// Deletes the tables and the schedule group: moto keeps everything in memory, for everyone
    /// using it.
    pub async fn remove(self) -> Result<(), BoxError> {
        admin::delete_tables(&self.dynamodb, &self.tables)
            .await
            .map_err(|err| {
                format!(
                    "deleting tables {}*: {}",
                    self.tables.prefix(),
                    cause_chain(&err)
                )
            })?;
        let group = &self.scheduler_config.group_name;
        self.scheduler
            .delete_schedule_group()
            .name(group)
            .send()
            .await
            .map_err(|err| failed(format!("deleting schedule group {group}"), err))?;
        Ok(())
    }
}

/// Removes `stacks`. A stack left behind costs moto memory, not the figure: it is reported, and
/// the figure stands.
pub(crate) async fn remove<const N: usize>(stacks: [Stack; N]) {
    for stack in stacks {
        if let Err(err) = stack.remove().await {
            eprintln!("bench: left behind on moto: {err}");
        }
    }
}

/// The bare SDK loop of figure 2: each operation's unavoidable calls, shaped as the adapters
/// shape them, with nothing around them but what their answers must be checked for.
struct Bare<'a> {
    stack: &'a Stack,
    customer: UserId,
}

impl<'a> Bare<'a> {
    fn new(stack: &'a Stack) -> Result<Self, BoxError> {
        let customer = UserId::parse(CUSTOMER).map_err(|err| format!("{CUSTOMER}: {err}"))?;
        Ok(Self { stack, customer })
    }

    /// Places an order of one unit of each of `products`: its payment timeout's schedule, then
    /// the order and its stock reservations in one transaction, in create-order's order.
    async fn create(&self, products: &[Product]) -> Result<OrderId, BoxError> {
        let now = chrono::Utc::now();
        let order = Order::new_pending(
            OrderId::generate(),
            self.customer.clone(),
            one_of_each(products)?,
            now,
            now + PAYMENT_TIMEOUT,
        );
        self.schedule(&order).await?;
        self.place(&order).await?;
        Ok(order.order_id)
    }

    /// `count` PENDING orders with their payment timeouts scheduled, as placing leaves them, to
    /// pay; the orders are put directly, 25 to a call.
    async fn prepare(
        &self,
        products: &[Product],
        count: usize,
    ) -> Result<VecDeque<OrderId>, BoxError> {
        let now = chrono::Utc::now();
        let lines = one_of_each(products)?;
        let orders: Vec<Order> = (0..count)
            .map(|_| {
                let id = OrderId::generate();
                let due = now + PAYMENT_TIMEOUT;
                Order::new_pending(id, self.customer.clone(), lines.clone(), now, due)
            })
            .collect();
        self.stack.put_orders(&orders).await?;
        for order in &orders {
            self.schedule(order).await?;
        }
        Ok(orders.into_iter().map(|order| order.order_id).collect())
    }

    /// `CreateSchedule` as `EventBridgeScheduler::schedule` sends it.
    async fn schedule(&self, order: &Order) -> Result<(), BoxError> {
        let config = &self.stack.scheduler_config;
        let input = serde_json::to_string(&PaymentTimeout {
            order_id: order.order_id.clone(),
            user_id: order.user_id.clone(),
            payment_due_at: order.payment_due_at,
        })?;
        let retry = RetryPolicy::builder()
            .maximum_retry_attempts(config.max_retry_attempts)
            .maximum_event_age_in_seconds(
                i32::try_from(config.max_event_age.as_secs()).unwrap_or(i32::MAX),
            )
            .build();
        let dead_letter = config
            .dead_letter_arn
            .as_ref()
            .map(|arn| DeadLetterConfig::builder().arn(arn).build());
        let target = Target::builder()
            .arn(&config.target_arn)
            .role_arn(&config.role_arn)
            .input(input)
            .retry_policy(retry)
            .set_dead_letter_config(dead_letter)
            .build()
            .map_err(|err| failed("building a schedule target", err))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|err| failed("building a time window", err))?;
        self.stack
            .scheduler
            .create_schedule()
            .name(schedule_name(&order.order_id))
            .group_name(&config.group_name)
            .schedule_expression(at_expression(order.payment_due_at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await
            .map_err(|err| failed(format!("scheduling the timeout of {}", order.order_id), err))?;
        Ok(())
    }

    /// `TransactWriteItems` as `DynamoStore::place_order` sends it: the order, unless it exists,
    /// and each line's units taken from a product that has them, at the price the order charges.
    async fn place(&self, order: &Order) -> Result<(), BoxError> {
        let put_order = Put::builder()
            .table_name(self.stack.name(table::ORDERS))
            .set_item(Some(order_item(order)))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", attr::ORDER_ID)
            .build()
            .map_err(|err| failed("building the order's put", err))?;
        let mut items = vec![TransactWriteItem::builder().put(put_order).build()];
        for line in &order.lines {
            let reserve = Update::builder()
                .table_name(self.stack.name(table::PRODUCTS))
                .key(attr::PRODUCT_ID, s(line.product_id.as_str()))
                .update_expression("SET #stock = #stock - :quantity")
                .condition_expression(
                    "attribute_exists(#id) AND #stock >= :quantity AND #price = :price",
                )
                .expression_attribute_names("#id", attr::PRODUCT_ID)
                .expression_attribute_names("#stock", attr::STOCK)
                .expression_attribute_names("#price", attr::PRICE_CENTS)
                .expression_attribute_values(":quantity", n(line.quantity.get()))
                .expression_attribute_values(":price", n(line.unit_price_cents))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(|err| failed("building a reservation", err))?;
            items.push(TransactWriteItem::builder().update(reserve).build());
        }
        self.stack
            .dynamodb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|err| failed(format!("placing order {}", order.order_id), err))?;
        Ok(())
    }

    /// Pays `order` as `Storefront::pay` does: reads it, checks it is the customer's and PENDING,
    /// marks it PAID on that condition, and deletes its payment timeout's schedule.
    async fn pay(&self, order: OrderId) -> Result<(), BoxError> {
        let orders = self.stack.name(table::ORDERS);
        let key = HashMap::from([(attr::ORDER_ID.to_owned(), s(order.as_str()))]);
        let found = self
            .stack
            .dynamodb
            .get_item()
            .table_name(&orders)
            .set_key(Some(key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| failed(format!("reading order {order}"), err))?;
        let item = found
            .item()
            .ok_or_else(|| format!("order {order} does not exist"))?;
        let (owner, status) = (text(item, attr::USER_ID)?, text(item, attr::STATUS)?);
        if owner != self.customer.as_str() || status != OrderStatus::Pending.as_str() {
            return Err(format!("order {order} is {owner}'s and {status}, not PENDING").into());
        }
        self.stack
            .dynamodb
            .update_item()
            .table_name(&orders)
            .set_key(Some(key))
            .update_expression("SET #status = :paid, #updated = :at")
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#updated", attr::UPDATED_AT)
            .expression_attribute_values(":paid", s(OrderStatus::Paid.as_str()))
            .expression_attribute_values(":pending", s(OrderStatus::Pending.as_str()))
            .expression_attribute_values(":at", s(time::format(&chrono::Utc::now())))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|err| failed(format!("marking order {order} paid"), err))?;
        self.stack
            .scheduler
            .delete_schedule()
            .name(schedule_name(&order))
            .group_name(&self.stack.scheduler_config.group_name)
            .send()
            .await
            .map_err(|err| failed(format!("deleting the timeout of {order}"), err))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_split_the_requests_evenly_and_lose_none() {
        assert_eq!(round_sizes(200, 8).collect::<Vec<_>>(), [40; 5]);
        assert_eq!(round_sizes(12, 1).collect::<Vec<_>>(), [5, 5, 2]);
        assert_eq!(round_sizes(5, 8).collect::<Vec<_>>(), [5]);
        assert_eq!(round_sizes(0, 1).count(), 0);
    }

    #[test]
    fn jobs_are_dealt_round_robin_to_the_clients() {
        assert_eq!(
            deal(3, (0..7).collect()),
            [vec![0, 3, 6], vec![1, 4], vec![2, 5]]
        );
        assert_eq!(deal(8, vec![1]).iter().map(Vec::len).sum::<usize>(), 1);
        assert_eq!(deal(0, vec![1, 2]), [vec![1, 2]], "at least one client");
    }

    #[tokio::test]
    async fn the_sides_take_turns_function_bare_bare_function() {
        let turns = std::sync::Mutex::new(Vec::new());
        let took = |side: &'static str, count: usize| {
            turns.lock().map(|mut turns| turns.push((side, count))).ok();
            Ok(Sample {
                latencies_ms: vec![1.0; count],
                wall: Duration::from_millis(count as u64),
            })
        };
        let (function, bare) = alternate(
            20,
            1,
            async |count| took("function", count),
            async |count| took("bare", count),
        )
        .await
        .unwrap();
        assert_eq!(
            (function.latencies_ms.len(), bare.latencies_ms.len()),
            (20, 20)
        );
        let sides: Vec<&str> = turns.into_inner().unwrap().iter().map(|t| t.0).collect();
        assert_eq!(
            sides,
            [
                "function", "bare", "bare", "function", "function", "bare", "bare", "function"
            ]
        );
    }
}
