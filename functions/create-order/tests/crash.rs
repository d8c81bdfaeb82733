//! The create-order binary killed with SIGKILL between its steps: at each of its remote calls in
//! turn (DynamoDB and the Scheduler, both on moto behind one `FaultProxy`), with the call applied
//! and its answer held, so that the process dies before it reads it. Then a fresh process (a new
//! cold start) and the client's retry with the same `Idempotency-Key`.
//!
//! A retry while the dead process's lease on the key lasts is told to wait (409
//! `idempotency_key_in_use` with `Retry-After`): the process could be alive. The test then ends
//! the lease as its running out would, 60 s later, and the retry resumes the same order: 201
//! once, reserved once, its timeout scheduled. After every crash and retry: for every product,
//! initial stock = current stock + what PENDING and PAID orders hold; no PENDING order without
//! its payment timeout. A last case kills a request without a key: its retry is a new request.

mod common;

use std::time::Duration;

use common::*;
use orderflow_domain::ports::{
    Claim, IdempotencyKey, IdempotencyRecord, IdempotencyStore, OrderStore, PageRequest,
};
use orderflow_http::error::code;
use orderflow_http::testing::ApiGatewayRequest;
use orderflow_testing::figures;
use orderflow_testing::proxy::FaultProxy;
use orderflow_testing::runtime::{FunctionProcess, Invocation, Outcome, RuntimeApi};
use orderflow_testing::services::LocalServices;
use orderflow_types::{OrderStatus, ProductId, UserId};
use serde_json::Value;

/// Every wait of the test is bounded by this: a hung process fails the test, it does not hold it.
const WITHIN: Duration = Duration::from_secs(30);
const STOCK: u64 = 5;
const UNITS: u64 = 2;

/// The local services, the function's Runtime API and the proxy in front of moto.
struct Stack {
    services: LocalServices,
    proxy: FaultProxy,
    runtime: RuntimeApi,
}

impl Stack {
    async fn new() -> Self {
        Self {
            services: LocalServices::new(1).await,
            proxy: FaultProxy::before_moto().await,
            runtime: RuntimeApi::start("create-order", Duration::from_secs(29)).await,
        }
    }

    /// A fresh create-order process, its DynamoDB and Scheduler calls through the proxy.
    fn start_function(&self) -> FunctionProcess {
        let config = self.services.scheduler_config();
        let endpoint = self.proxy.url();
        self.runtime.spawn(
            env!("CARGO_BIN_EXE_create-order"),
            &[
                ("AWS_ENDPOINT_URL", endpoint.as_str()),
                ("DYNAMODB_TABLE_PREFIX", self.services.tables.prefix()),
                ("SCHEDULE_GROUP_NAME", config.group_name.as_str()),
                ("ORDER_TIMEOUT_FUNCTION_ARN", config.target_arn.as_str()),
                ("SCHEDULER_ROLE_ARN", config.role_arn.as_str()),
            ],
        )
    }

    fn send(&self, request: &ApiGatewayRequest) -> Invocation {
        self.runtime.invoke(request.event().to_string())
    }

    /// For the orders of `product`: each PENDING one has its payment timeout, and stock plus what
    /// PENDING and PAID orders hold is the initial stock. Returns how many orders it has.
    async fn assert_invariants(&self, product: &ProductId, crash: &str) -> usize {
        let store = self.services.store();
        let (mut held, mut orders) = (0, 0);
        for id in self.services.order_ids().await {
            let order = store.get_order(&id).await.expect("read").expect("exists");
            let Some(line) = order.lines.iter().find(|l| &l.product_id == product) else {
                continue;
            };
            orders += 1;
            if order.status == OrderStatus::Pending {
                assert!(
                    self.services.is_scheduled(&id).await,
                    "{crash}: order {id} holds stock without a payment timeout"
                );
            }
            if order.status != OrderStatus::Cancelled {
                held += u64::from(line.quantity.get());
            }
        }
        let current = self.services.stock(product).await;
        assert_eq!(current + held, STOCK, "{crash}: stock is conserved");
        orders
    }

    /// Ends the lease a dead process holds on `key`, as its running out would: a stand-in for
    /// waiting `LEASE` (60 s).
    async fn let_lease_run_out(&self, user: &str, key: &str) {
        let store = self.services.idempotency_store();
        let now = chrono::Utc::now();
        let probe = IdempotencyRecord {
            key: IdempotencyKey::new(&UserId::parse(user).expect("user"), key).expect("key"),
            fingerprint: String::new(),
            order_id: orderflow_types::OrderId::generate(),
            accepted_at: now,
            expires_at: now + chrono::Duration::hours(1),
            lease_until: Some(now),
            response: None,
        };
        let Claim::Taken(existing) = store.claim(&probe, now).await.expect("claim") else {
            panic!("the dead process's record of {key} is gone");
        };
        let ended = store
            .take_over(&existing, now - chrono::Duration::seconds(1))
            .await
            .expect("take over");
        assert!(ended.is_some(), "the lease of {key} ended");
    }
}

/// A lambda_http answer: its status and JSON body.
fn answer(outcome: &Outcome, context: &str) -> (u16, Value) {
    let text = outcome
        .response_text()
        .unwrap_or_else(|| panic!("{context}: the invocation failed: {outcome:?}"));
    let response: Value = serde_json::from_str(&text).expect("a JSON answer");
    let status = response["statusCode"].as_u64().unwrap_or_default() as u16;
    let body = response["body"]
        .as_str()
        .and_then(|body| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

/// Sends `request` and kills the process once it holds the answer to its `k`-th remote call.
async fn crash_at(stack: &Stack, request: &ApiGatewayRequest, k: usize, crash: &str) {
    let mut process = stack.start_function();
    stack.proxy.hold_response(stack.proxy.responses() + k);
    let invocation = stack.send(request);
    assert!(
        stack.proxy.wait_for_held(WITHIN).await,
        "{crash}: call {k} never came; log:\n{}",
        process.log()
    );
    process.kill();
    assert_eq!(invocation.outcome(WITHIN).await, Outcome::ProcessDied);
    stack.proxy.release();
}

#[tokio::test]
async fn killed_between_any_two_steps_a_retry_with_the_key_places_the_order_once() {
    let stack = Stack::new().await;
    let process = stack.start_function();

    // A clean run counts the request's remote calls: the crash points.
    let product = stack.services.product("p-clean", 100, STOCK).await;
    let before = stack.proxy.responses();
    let request = order_request("u-clean", &[(&product, UNITS)]).idempotency_key("clean");
    let (status, _) = answer(&stack.send(&request).outcome(WITHIN).await, "clean run");
    assert_eq!(status, 201, "clean run; log:\n{}", process.log());
    let calls = stack.proxy.responses() - before;
    drop(process);
    assert!(
        calls >= 4,
        "claim, schedule, place and complete: {calls} calls"
    );

    let (mut killed, mut waited, mut resumed) = (0, 0, 0);
    for k in 0..calls {
        let crash = format!("killed at remote call {k} of {calls}");
        let product = stack.services.product(&format!("p-{k}"), 100, STOCK).await;
        let user = format!("u-{k}");
        let key = format!("key-{k}");
        let request = order_request(&user, &[(&product, UNITS)]).idempotency_key(&key);
        crash_at(&stack, &request, k, &crash).await;
        killed += 1;
        stack.assert_invariants(&product, &crash).await;

        let process = stack.start_function();
        let (mut status, mut body) = answer(&stack.send(&request).outcome(WITHIN).await, &crash);
        if status == 409 {
            assert_eq!(
                body["code"],
                code::IDEMPOTENCY_KEY_IN_USE,
                "{crash}: {body}"
            );
            waited += 1;
            stack.assert_invariants(&product, &crash).await;
            stack.let_lease_run_out(&user, &key).await;
            (status, body) = answer(&stack.send(&request).outcome(WITHIN).await, &crash);
        }
        assert_eq!(status, 201, "{crash}: {body}; log:\n{}", process.log());
        resumed += 1;
        let (replayed, replayed_body) = answer(&stack.send(&request).outcome(WITHIN).await, &crash);
        assert_eq!(
            (replayed, &replayed_body),
            (201, &body),
            "{crash}: replayed"
        );
        drop(process);

        let orders = stack
            .services
            .store()
            .list_orders(
                &UserId::parse(&user).expect("user"),
                &PageRequest::default(),
            )
            .await
            .expect("list");
        let ids: Vec<String> = orders
            .items
            .iter()
            .map(|order| order.order_id.to_string())
            .collect();
        assert_eq!(
            ids,
            [body["order_id"].as_str().unwrap_or_default()],
            "{crash}: one order"
        );
        let order = &orders.items[0];
        assert_eq!(order.status, OrderStatus::Pending, "{crash}");
        assert_eq!(
            stack.services.stock(&product).await,
            STOCK - UNITS,
            "{crash}: reserved once"
        );
        assert!(
            stack.services.is_scheduled(&order.order_id).await,
            "{crash}: its timeout is scheduled"
        );
        assert_eq!(stack.assert_invariants(&product, &crash).await, 1);
    }
    figures::report(
        "create-order crash",
        format!(
            "{calls} remote calls a request, {killed} crash points tried, \
             {killed} processes killed, {waited} retries told to wait for the dead process's lease, \
             {resumed} resumed with 201 once each and replayed alike; {} invocations handed out",
            stack.runtime.handed_out()
        ),
    );
}

#[tokio::test]
async fn killed_without_a_key_a_retry_is_a_new_order_and_nothing_is_stuck() {
    let stack = Stack::new().await;
    let product = stack.services.product("p-nokey", 100, STOCK).await;
    let request = order_request("u-nokey", &[(&product, UNITS)]);
    // Without a key the calls are: read the product, schedule, place. Killed with the order
    // placed and its answer unread.
    let crash = "killed at the reservation, without a key";
    crash_at(&stack, &request, 2, crash).await;
    let left = stack.assert_invariants(&product, crash).await;

    let process = stack.start_function();
    let (status, body) = answer(&stack.send(&request).outcome(WITHIN).await, crash);
    assert_eq!(status, 201, "{body}; log:\n{}", process.log());
    drop(process);
    // Nothing ties the retry to the first attempt: a second order, which holds its own stock
    // and its own timeout; the first times out as usual.
    let orders = stack.assert_invariants(&product, crash).await;
    assert_eq!(
        (left, orders),
        (1, 2),
        "the first order stands, and a second"
    );
    assert_eq!(stack.services.stock(&product).await, STOCK - 2 * UNITS);
    figures::report(
        "create-order crash without a key",
        format!(
            "1 process killed at the reservation, {left} order \
             left by it (PENDING, scheduled), the retry placed a second: stock {} of {STOCK}, \
             conserved",
            stack.services.stock(&product).await
        ),
    );
}
