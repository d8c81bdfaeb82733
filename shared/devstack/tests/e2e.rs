//! The whole pipeline, end to end: the story of `devstack story`, run against the local stack that
//! `scripts/run.sh` starts (moto, the Kafka broker, every function under `cargo lambda watch`, the
//! MSK and Scheduler emulators). `make e2e` (part of `make test`) starts that stack and runs this.
//! At the end it sends requests carrying secrets and scans every log of the run for them.

use std::collections::BTreeMap;
use std::time::Duration;

use orderflow_adapters::dynamodb::DynamoStore;
use orderflow_devstack::settings::Settings;
use orderflow_devstack::story::{self, Stack};
use orderflow_types::{CancelReason, EventType, NotificationKind, OrderStatus};

#[tokio::test]
#[ignore = "needs the running local stack: run with `make e2e`"]
async fn the_story_ends_with_every_order_settled_and_stock_conserved() {
    let settings = Settings::from_env().expect("settings");
    let aws = aws_config::load_from_env().await;
    let stack = Stack {
        function_urls: format!("{}/lambda-url", settings.lambda_endpoint),
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), &settings.tables),
        kafka: settings.kafka,
        topic: settings.topic,
        dead_letter_topic: settings.dead_letter_topic,
        consumer_group: settings.consumer_group,
        timeout_wait: settings.payment_timeout + Duration::from_secs(60),
    };
    let report = story::run(&stack, |line| println!("{line}"))
        .await
        .expect("the story runs");

    let paid = report.paid.as_ref().expect("alice's order");
    let cancelled = report.cancelled.as_ref().expect("bob's order");
    let timed_out = report.timed_out.as_ref().expect("carol's order");
    assert_eq!(paid.status, OrderStatus::Paid);
    assert_eq!(
        (cancelled.status, cancelled.cancel_reason),
        (OrderStatus::Cancelled, Some(CancelReason::Customer))
    );
    assert_eq!(
        (timed_out.status, timed_out.cancel_reason),
        (OrderStatus::Cancelled, Some(CancelReason::PaymentTimeout)),
        "the payment timeout fired through the Scheduler and the consumer"
    );
    let (first, retried) = report.retried_order_id.as_ref().expect("carol's retry");
    assert_eq!(
        first, retried,
        "the same Idempotency-Key returns the same order"
    );
    let (status, error) = report.oversell.as_ref().expect("dave's attempt");
    assert_eq!((*status, error.code.as_str()), (409, "out_of_stock"));

    // Stock is conserved: what is gone is exactly what the one paid order holds.
    let before: BTreeMap<String, u64> = report
        .stock_before
        .iter()
        .map(|p| (p.product_id.to_string(), p.stock))
        .collect();
    let after: BTreeMap<String, u64> = report
        .stock_after
        .iter()
        .map(|p| (p.product_id.to_string(), p.stock))
        .collect();
    let mut held: BTreeMap<String, u64> = BTreeMap::new();
    for line in &paid.lines {
        *held.entry(line.product_id.to_string()).or_default() += u64::from(line.quantity.get());
    }
    for (product, stock) in &before {
        let expected = stock - held.get(product).copied().unwrap_or(0);
        assert_eq!(
            after[product], expected,
            "{product}: before {stock}, after {}",
            after[product]
        );
    }

    let kinds = |user: &str| -> Vec<NotificationKind> {
        let (_, notices) = report
            .notifications
            .iter()
            .find(|(u, _)| u == user)
            .expect("user listed");
        let mut kinds: Vec<NotificationKind> = notices.iter().map(|n| n.kind).collect();
        kinds.sort_by_key(|kind| kind.as_str());
        kinds
    };
    assert_eq!(kinds("alice"), [NotificationKind::OrderCreated]);
    assert_eq!(
        kinds("bob"),
        [
            NotificationKind::OrderCancelled,
            NotificationKind::OrderCreated
        ]
    );
    assert_eq!(
        kinds("carol"),
        [
            NotificationKind::OrderCancelled,
            NotificationKind::OrderCreated
        ]
    );
    assert!(kinds("dave").is_empty(), "a refused order notifies nobody");

    let sales = report.daily_sales.as_ref().expect("sales");
    assert_eq!(
        (sales.paid_orders, sales.revenue_cents),
        (1, paid.total_cents)
    );
    let sold: BTreeMap<String, u64> = report
        .product_sales
        .iter()
        .map(|s| (s.product_id.to_string(), s.units_sold))
        .collect();
    assert_eq!(sold["sku-espresso"], 2);
    assert_eq!(sold["sku-mug"], 1);

    let count = |order: &str, event_type: EventType| {
        report
            .events
            .iter()
            .filter(|e| e.order_id.as_str() == order && e.event_type == event_type)
            .count()
    };
    let (alice, bob, carol) = (
        paid.order_id.as_str(),
        cancelled.order_id.as_str(),
        timed_out.order_id.as_str(),
    );
    assert_eq!(
        (
            count(alice, EventType::Created),
            count(alice, EventType::Paid)
        ),
        (1, 1)
    );
    assert_eq!(
        (
            count(bob, EventType::Created),
            count(bob, EventType::Cancelled)
        ),
        (1, 1)
    );
    assert_eq!(count(carol, EventType::Timeout), 1);
    assert!(count(carol, EventType::Cancelled) >= 1);
    // The orders' own events come from the orders table's stream (order-stream), each under its
    // transition's id: a redelivered change publishes the same event again, never another.
    for event in report
        .events
        .iter()
        .filter(|e| e.event_type != EventType::Timeout)
    {
        assert_eq!(
            event.event_id.as_ref().map(|id| id.as_str()),
            Some(format!("{}.{}", event.order_id, event.event_type).as_str()),
            "{event:?}"
        );
    }
    assert_eq!(report.dead_letters, 0, "no record was dead-lettered");

    assert_no_secret_is_logged(&stack.function_urls).await;
}

/// Sends what a client may send and no log line may carry (a bearer token, an API key, a session
/// cookie, a card number in a body field), each holding a value unique to this run, then reads
/// every log the functions and the emulators wrote during the run: none of those values may be in
/// it, nor anything shaped like a credential.
async fn assert_no_secret_is_logged(function_urls: &str) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let canary = |what: &str| format!("canary{what}{nanos}x{}", std::process::id());
    let (token, api_key, cookie, card) = (
        canary("token"),
        canary("apikey"),
        canary("cookie"),
        canary("card"),
    );
    let http = reqwest::Client::new();
    let with_token = http
        .get(format!("{function_urls}/orders-api/orders"))
        .header("x-dev-user", "eve")
        .header(
            "authorization",
            format!("Bearer eyJhbGciOiJIUzI1NiJ9.{token}.c2ln"),
        )
        .send()
        .await
        .expect("a request with a bearer token");
    let with_body = http
        .post(format!("{function_urls}/create-order/orders"))
        .header("x-dev-user", "eve")
        .header("x-api-key", &api_key)
        .header("cookie", format!("session={cookie}"))
        .json(&serde_json::json!({
            "items": [{"product_id": "sku-mug", "quantity": 1}],
            "card_number": card,
        }))
        .send()
        .await
        .expect("a request with a card number");
    println!(
        "secrets sent: a bearer token ({}), an API key, a cookie and a card number ({})",
        with_token.status(),
        with_body.status()
    );
    // The functions log a request before they answer it; the emulators' lines come from the
    // story, which is over.
    let dir =
        std::env::var("ORDERFLOW_LOG_DIR").expect("ORDERFLOW_LOG_DIR (scripts/run.sh sets it)");
    let mut lines = 0;
    let mut found = Vec::new();
    for log in ["lambda.log", "emulators.log"] {
        let path = std::path::Path::new(&dir).join(log);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        for (n, line) in text.lines().enumerate() {
            lines += 1;
            let lower = line.to_lowercase();
            let secret = [&token, &api_key, &cookie, &card]
                .iter()
                .any(|value| line.contains(value.as_str()));
            let credential_shaped = CREDENTIAL_MARKERS
                .iter()
                .any(|marker| lower.contains(marker))
                || has_access_key_id(line);
            if secret || credential_shaped {
                found.push(format!("{log}:{}: {line}", n + 1));
            }
        }
    }
    println!(
        "log scan: {lines} lines in 2 logs, 4 secrets and {} credential shapes looked for, {} found",
        CREDENTIAL_MARKERS.len() + 1,
        found.len()
    );
    assert!(
        found.is_empty(),
        "secrets in the logs:\n{}",
        found.join("\n")
    );
}

/// Lower-case text that only a logged credential or request header would put in a log line.
const CREDENTIAL_MARKERS: &[&str] = &[
    "authorization:",
    "\"authorization\"",
    "bearer ",
    "eyjhbgci",
    "x-api-key",
    "cookie",
    "aws_secret_access_key",
    "x-amz-security-token",
    "private key-----",
];

/// An AWS access key id: `AKIA` or `ASIA` and 16 upper-case letters or digits.
fn has_access_key_id(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.windows(20).any(|window| {
        (window.starts_with(b"AKIA") || window.starts_with(b"ASIA"))
            && window[4..]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
}
