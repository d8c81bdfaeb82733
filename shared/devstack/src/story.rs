//! The local story: a short, scripted run of the whole pipeline through its public edges (the
//! HTTP API as API Gateway would call it, the Kafka topics, the tables), used by `devstack story`
//! to show it and by the end-to-end test to check it.
//!
//! Alice orders and pays, Bob orders and cancels, Carol orders and never pays, so the payment
//! timeout cancels her order and returns its stock; Dave tries to buy more than there is.

use std::collections::BTreeMap;
use std::time::Duration;

use orderflow_adapters::dynamodb::DynamoStore;
use orderflow_adapters::kafka::read_to_end;
use orderflow_domain::ports::SalesStore;
use orderflow_types::api::ErrorBody;
use orderflow_types::{
    CancelReason, DailySales, Notification, Order, OrderEvent, OrderStatus, Product, ProductId,
    ProductSales,
};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, TopicPartitionList};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the running stack is.
pub struct Stack {
    /// `http://127.0.0.1:9000/lambda-url`: function URLs as `cargo lambda watch` serves them.
    pub function_urls: String,
    pub store: DynamoStore,
    pub kafka: orderflow_adapters::kafka::KafkaConfig,
    pub topic: String,
    pub dead_letter_topic: String,
    /// The event source mapping's consumer group: once its committed offsets reach the end of
    /// the topic, order-events has applied every event.
    pub consumer_group: String,
    /// How long to wait for the payment timeout to cancel Carol's order.
    pub timeout_wait: Duration,
}

/// Everything the story saw, for printing and for assertions.
#[derive(Debug, Default)]
pub struct Report {
    pub stock_before: Vec<Product>,
    pub stock_after: Vec<Product>,
    pub paid: Option<Order>,
    pub cancelled: Option<Order>,
    pub timed_out: Option<Order>,
    pub retried_order_id: Option<(String, String)>,
    pub oversell: Option<(u16, ErrorBody)>,
    pub events: Vec<OrderEvent>,
    pub dead_letters: usize,
    pub notifications: Vec<(String, Vec<Notification>)>,
    pub daily_sales: Option<DailySales>,
    pub product_sales: Vec<ProductSales>,
    pub log: Vec<String>,
}

struct Api<'a> {
    http: reqwest::Client,
    stack: &'a Stack,
}

impl Api<'_> {
    async fn call(
        &self,
        user: &str,
        method: Method,
        function: &str,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<(StatusCode, Value), BoxError> {
        let url = format!("{}/{function}{path}", self.stack.function_urls);
        let mut request = self.http.request(method, url).header("x-dev-user", user);
        if user == "admin" {
            request = request.header("x-dev-groups", "admin");
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        };
        Ok((status, value))
    }

    async fn expect<T: DeserializeOwned>(
        &self,
        expected: StatusCode,
        user: &str,
        method: Method,
        function: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, BoxError> {
        let (status, value) = self
            .call(user, method.clone(), function, path, body, None)
            .await?;
        if status != expected {
            return Err(
                format!("{method} {path} answered {status}, not {expected}: {value}").into(),
            );
        }
        Ok(serde_json::from_value(value)?)
    }

    async fn order(&self, user: &str, items: Value, key: Option<&str>) -> Result<Order, BoxError> {
        let (status, value) = self
            .call(
                user,
                Method::POST,
                "create-order",
                "/orders",
                Some(json!({ "items": items })),
                key,
            )
            .await?;
        if status != StatusCode::CREATED {
            return Err(format!("POST /orders answered {status}: {value}").into());
        }
        Ok(serde_json::from_value(value)?)
    }

    async fn products(&self) -> Result<Vec<Product>, BoxError> {
        let page: orderflow_types::api::ProductPage = self
            .expect(
                StatusCode::OK,
                "admin",
                Method::GET,
                "orders-api",
                "/products?limit=100",
                None,
            )
            .await?;
        let mut products = page.items;
        products.sort_by(|a, b| a.product_id.cmp(&b.product_id));
        Ok(products)
    }
}

/// Runs the story against `stack`. `note` is called with each step as it happens.
pub async fn run(stack: &Stack, mut note: impl FnMut(&str)) -> Result<Report, BoxError> {
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?,
        stack,
    };
    let mut report = Report::default();
    let mut log = Vec::new();
    let mut say = |line: String| {
        note(&line);
        log.push(line);
    };

    report.stock_before = api.products().await?;
    say(format!(
        "stock before: {}",
        stock_line(&report.stock_before)
    ));

    let alice = api.order("alice", json!([{"product_id": "sku-espresso", "quantity": 2}, {"product_id": "sku-mug", "quantity": 1}]), None).await?;
    say(format!(
        "alice ordered 2 bags of espresso beans and a mug for {}: order {} is {}",
        money(alice.total_cents),
        alice.order_id,
        status_words(&alice)
    ));
    let paid: Order = api
        .expect(
            StatusCode::OK,
            "alice",
            Method::POST,
            "orders-api",
            &format!("/orders/{}/pay", alice.order_id),
            None,
        )
        .await?;
    say(format!(
        "alice paid order {}: it is {}",
        paid.order_id,
        status_words(&paid)
    ));
    report.paid = Some(paid);

    let bob = api
        .order(
            "bob",
            json!([{"product_id": "sku-grinder", "quantity": 1}]),
            None,
        )
        .await?;
    let cancelled: Order = api
        .expect(
            StatusCode::OK,
            "bob",
            Method::POST,
            "orders-api",
            &format!("/orders/{}/cancel", bob.order_id),
            None,
        )
        .await?;
    say(format!(
        "bob ordered a grinder and cancelled it: order {} is {}",
        bob.order_id,
        status_words(&cancelled)
    ));
    report.cancelled = Some(cancelled);

    let items = json!([{"product_id": "sku-kettle", "quantity": 1}, {"product_id": "sku-mug", "quantity": 3}]);
    let carol = api
        .order("carol", items.clone(), Some("carol-first-order"))
        .await?;
    let retried = api.order("carol", items, Some("carol-first-order")).await?;
    say(format!(
        "carol ordered a kettle and 3 mugs (order {}); retrying with the same Idempotency-Key gave order {} again, not a second one. She will not pay: payment is due at {}",
        carol.order_id,
        retried.order_id,
        orderflow_types::time::format(&carol.payment_due_at)
    ));
    report.retried_order_id = Some((carol.order_id.to_string(), retried.order_id.to_string()));

    let (status, body) = api
        .call(
            "dave",
            Method::POST,
            "create-order",
            "/orders",
            Some(json!({"items": [{"product_id": "sku-kettle", "quantity": 5}]})),
            None,
        )
        .await?;
    let error: ErrorBody = serde_json::from_value(body)?;
    say(format!(
        "dave tried to buy 5 kettles and was refused, nothing reserved: HTTP {} {}: {}",
        status.as_u16(),
        error.code,
        error.message
    ));
    report.oversell = Some((status.as_u16(), error));

    say(format!(
        "waiting for carol's payment timeout (up to {} s)…",
        stack.timeout_wait.as_secs()
    ));
    let deadline = tokio::time::Instant::now() + stack.timeout_wait;
    let path = format!("/orders/{}", carol.order_id);
    let timed_out = loop {
        let order: Order = api
            .expect(
                StatusCode::OK,
                "carol",
                Method::GET,
                "orders-api",
                &path,
                None,
            )
            .await?;
        if order.status != OrderStatus::Pending || tokio::time::Instant::now() > deadline {
            break order;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    say(format!(
        "carol's order {} is {}",
        timed_out.order_id,
        status_words(&timed_out)
    ));
    report.timed_out = Some(timed_out);

    // The consumer writes notifications and statistics asynchronously: wait until it has
    // applied every event on the topic.
    wait_until_consumed(stack, Duration::from_secs(60)).await?;
    report.stock_after = api.products().await?;
    say(format!("stock after:  {}", stock_line(&report.stock_after)));

    for user in ["alice", "bob", "carol", "dave"] {
        let page: orderflow_types::api::NotificationPage = api
            .expect(
                StatusCode::OK,
                user,
                Method::GET,
                "orders-api",
                "/notifications",
                None,
            )
            .await?;
        for notice in &page.items {
            say(format!(
                "notification for {user} about order {}: {}",
                notice.order_id, notice.message
            ));
        }
        report.notifications.push((user.to_owned(), page.items));
    }

    let day = paid_day(report.paid.as_ref());
    let sales = stack.store.daily_sales(&day).await?;
    say(format!(
        "sales on {day}: {} paid order(s), {}",
        sales.paid_orders,
        money(sales.revenue_cents)
    ));
    report.daily_sales = Some(sales);
    for product in ["sku-espresso", "sku-mug"] {
        let sold = stack
            .store
            .product_sales(&ProductId::parse(product)?)
            .await?;
        say(format!("units sold of {product}: {}", sold.units_sold));
        report.product_sales.push(sold);
    }

    report.events = read_topic(stack, &stack.topic)
        .await?
        .into_iter()
        .map(|value| {
            serde_json::from_slice(&value).map_err(|err| {
                format!(
                    "a record on {} is not an order event ({err}): {}",
                    stack.topic,
                    String::from_utf8_lossy(&value)
                )
            })
        })
        .collect::<Result<_, _>>()?;
    for event in &report.events {
        say(format!(
            "event on {}: {:<9} order {} of {}",
            stack.topic, event.event_type, event.order_id, event.user_id
        ));
    }
    report.dead_letters = read_topic(stack, &stack.dead_letter_topic).await?.len();
    say(format!(
        "records on the dead-letter topic {}: {}",
        stack.dead_letter_topic, report.dead_letters
    ));
    report.log = log;
    Ok(report)
}

fn paid_day(order: Option<&Order>) -> String {
    order
        .map(|o| o.updated_at)
        .unwrap_or_else(chrono::Utc::now)
        .format("%Y-%m-%d")
        .to_string()
}

/// 4480 cents as `$44.80`.
fn money(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// An order's state in words: its status, and for a cancelled order, why.
fn status_words(order: &Order) -> String {
    match (order.status, order.cancel_reason) {
        (OrderStatus::Cancelled, Some(CancelReason::PaymentTimeout)) => {
            "cancelled: not paid before its payment deadline, its stock returned".to_owned()
        }
        (OrderStatus::Cancelled, Some(CancelReason::Customer)) => {
            "cancelled by its owner, its stock returned".to_owned()
        }
        (status, _) => status.as_str().to_lowercase(),
    }
}

fn stock_line(products: &[Product]) -> String {
    products
        .iter()
        .map(|p| format!("{} {}", p.product_id, p.stock))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The end offset of every partition of the event topic that has records.
async fn end_offsets(stack: &Stack) -> Result<Vec<(i32, i64)>, BoxError> {
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for record in read_to_end(&stack.kafka, &stack.topic, Duration::from_secs(30)).await? {
        let end = ends.entry(record.partition()).or_default();
        *end = (*end).max(record.offset() + 1);
    }
    Ok(ends.into_iter().collect())
}

/// Waits until the event source mapping's consumer group has committed every partition of the
/// topic up to its end, which moves while order-events publishes (`cancelled` after a timeout).
async fn wait_until_consumed(stack: &Stack, within: Duration) -> Result<(), BoxError> {
    let consumer: StreamConsumer = stack
        .kafka
        .client_config()
        .set("group.id", &stack.consumer_group)
        .set("enable.auto.commit", "false")
        .create()?;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let ends = end_offsets(stack).await?;
        let mut partitions = TopicPartitionList::new();
        for (partition, _) in &ends {
            partitions.add_partition(&stack.topic, *partition);
        }
        let committed = consumer.committed_offsets(partitions, Duration::from_secs(10))?;
        let behind: Vec<String> = ends
            .iter()
            .filter(|(partition, end)| {
                let done = committed
                    .find_partition(&stack.topic, *partition)
                    .and_then(|p| p.offset().to_raw())
                    .unwrap_or(0);
                *end > 0 && done < *end
            })
            .map(|(partition, end)| format!("{partition} (end {end})"))
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "order-events did not consume {} within {} s; partitions behind: {}",
                stack.topic,
                within.as_secs(),
                behind.join(", ")
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every record value on `topic` so far.
async fn read_topic(stack: &Stack, topic: &str) -> Result<Vec<Vec<u8>>, BoxError> {
    let records = read_to_end(&stack.kafka, topic, Duration::from_secs(30)).await?;
    Ok(records
        .iter()
        .map(|record| record.payload().unwrap_or_default().to_vec())
        .collect())
}
