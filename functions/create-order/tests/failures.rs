//! Failures midway: each dependency failing at each step of `POST /orders`, and what a retry with
//! the same `Idempotency-Key` makes of it. Against moto; the failures are real outages (addresses
//! nothing listens on) or injected into calls of the real adapters, before a call reaches its
//! service or after the service applied it (a lost answer). No broker is involved: the order's
//! `created` event is its INSERT on the orders table's stream.
//!
//! After every failure: no stock is reserved by an order without its payment timeout, and stock
//! plus what orders hold is what there was. After the retry: one order, reserved once, scheduled,
//! inserted once on the stream, and further retries replay its answer.

mod common;

use std::time::{Duration, Instant};

use common::*;
use lambda_http::http::header::RETRY_AFTER;
use orderflow_adapters::AWS_ATTEMPT_TIMEOUT;
use orderflow_adapters::system::SystemClock;
use orderflow_domain::Dependency;
use orderflow_domain::ports::{Clock, OrderStore, PageRequest};
use orderflow_domain::testing::FixedClock;
use orderflow_domain::testing::faults::{Faulty, When};
use orderflow_http::error::code;
use orderflow_http::idempotency::LEASE;
use orderflow_http::response::IDEMPOTENT_REPLAYED;
use orderflow_http::testing::{ApiGatewayRequest, json_body, outcome};
use orderflow_testing::figures;
use orderflow_testing::local::{TEST_LIMIT, within};
use orderflow_testing::proxy::FaultProxy;
use orderflow_testing::services::LocalServices;
use orderflow_testing::stall::StalledEndpoint;
use orderflow_types::{OrderId, OrderStatus, ProductId, UserId};

const STOCK: u64 = 5;
const UNITS: u64 = 2;

/// Every call `POST /orders` makes, in order, on the adapter that makes it.
const STEPS: [(Target, &str); 5] = [
    (Target::Idempotency, "claim"),
    // Each case orders a product the function has not seen: it is read, with the order, first.
    (Target::Store, "order_and_products"),
    (Target::Scheduler, "schedule"),
    (Target::Store, "place_order"),
    (Target::Idempotency, "complete"),
];

/// Each of `ids` is on the orders table's stream once, as placed: order-stream announces it once.
async fn assert_inserted_once(stack: &LocalServices, ids: &[OrderId]) {
    for id in ids {
        assert_eq!(
            stack.status_changes(id).await,
            [(None, Some(OrderStatus::Pending))],
            "order {id}"
        );
    }
}

/// Checks, for the orders of `product`, that each PENDING one has its payment timeout and that
/// stock plus what the orders hold is the initial stock.
async fn assert_nothing_stuck(stack: &LocalServices, product: &ProductId) {
    let mut held = 0;
    for id in stack.order_ids().await {
        let order = stack.store().get_order(&id).await.unwrap().unwrap();
        let Some(line) = order.lines.iter().find(|l| &l.product_id == product) else {
            continue;
        };
        if order.status == OrderStatus::Pending {
            assert!(
                stack.is_scheduled(&id).await,
                "order {id} holds stock without a payment timeout"
            );
        }
        if order.status != OrderStatus::Cancelled {
            held += u64::from(line.quantity.get());
        }
    }
    assert_eq!(
        stack.stock(product).await + held,
        STOCK,
        "stock is conserved"
    );
}

/// After a failed first attempt: the retry completes the order, once.
async fn assert_completed_by_retry<P: ApiPorts<Clock = FixedClock>>(
    stack: &LocalServices,
    api: &ApiContext<P>,
    request: &ApiGatewayRequest,
    user: &str,
    product: &ProductId,
) -> OrderId {
    let retried = retry(api, async || send(api, request).await).await;
    assert_eq!(retried.status(), 201, "{}", json_body(&retried));
    let id = order_id(&retried);
    let replayed = send(api, request).await;
    assert_eq!(replayed.headers()[IDEMPOTENT_REPLAYED], "true");
    assert_eq!(json_body(&replayed), json_body(&retried));

    let orders = stack
        .store()
        .list_orders(&UserId::parse(user).unwrap(), &PageRequest::default())
        .await
        .unwrap();
    let ids: Vec<_> = orders.items.iter().map(|o| o.order_id.clone()).collect();
    assert_eq!(ids, std::slice::from_ref(&id), "one order");
    assert_eq!(stack.stock(product).await, STOCK - UNITS, "reserved once");
    assert!(stack.is_scheduled(&id).await);
    assert_nothing_stuck(stack, product).await;
    id
}

#[tokio::test]
async fn every_step_can_fail_and_a_retry_completes_the_order_once() {
    let stack = LocalServices::new(3).await;
    let api = faulty(&stack);
    let mut placed = Vec::new();
    for (n, (target, operation)) in STEPS.into_iter().enumerate() {
        for when in [When::Before, When::After] {
            let case = format!("{operation}-{when:?}")
                .to_lowercase()
                .replace('_', "-");
            let product = stack.product(&format!("sku-{n}-{case}"), 100, STOCK).await;
            let user = format!("user-{case}");
            let request =
                order_request(&user, &[(&product, UNITS)]).idempotency_key(&format!("key-{case}"));
            let before = (fired(&api).len(), target.fired(&api).len());
            target.arm(&api, operation, when);

            let first = send(&api, &request).await;
            assert_eq!(fired(&api).len(), before.0 + 1, "{case}: one fault fired");
            assert_eq!(
                target.fired(&api)[before.1..],
                [operation],
                "{case}: the fault was hit"
            );
            // A failure to store the answer does not change the answer.
            let expected = if operation == "complete" { 201 } else { 503 };
            assert_eq!(first.status(), expected, "{case}: {}", json_body(&first));
            assert_nothing_stuck(&stack, &product).await;

            let id = assert_completed_by_retry(&stack, &api, &request, &user, &product).await;
            // Only when storing the answer failed was the first answer the order; the retry
            // answers the same one.
            let first_order = (first.status() == 201).then(|| order_id(&first));
            assert_eq!(
                first_order,
                (operation == "complete").then(|| id.clone()),
                "{case}: the order first answered"
            );
            placed.push(id);
        }
    }
    assert_inserted_once(&stack, &placed).await;
}

#[tokio::test]
async fn a_key_whose_release_failed_is_resumed_once_its_lease_runs_out() {
    let stack = LocalServices::new(1).await;
    let api = context_with_clock(
        stack.store(),
        Faulty::new(stack.idempotency_store(), Dependency::DynamoDb),
        Faulty::new(stack.scheduler(), Dependency::Scheduler),
        FixedClock::at(SystemClock.now()),
    );
    let product = stack.product("kettle", 5990, STOCK).await;
    let request = order_request("frank", &[(&product, UNITS)]).idempotency_key("k");
    api.storefront.scheduler.fail_next("schedule", When::Before);
    api.idempotency.store.fail_next("release", When::Before);
    let first = send(&api, &request).await;
    assert_eq!(first.status(), 503);
    assert_nothing_stuck(&stack, &product).await;

    let waiting = send(&api, &request).await;
    assert_eq!(
        outcome(&waiting),
        (409, Some(code::IDEMPOTENCY_KEY_IN_USE.into()))
    );
    api.storefront
        .clock
        .advance(LEASE - chrono::TimeDelta::seconds(1));
    assert_eq!(
        send(&api, &request).await.status(),
        409,
        "the lease still runs"
    );
    let id = assert_completed_by_retry(&stack, &api, &request, "frank", &product).await;
    assert_inserted_once(&stack, &[id]).await;
}

#[tokio::test]
async fn real_outages_leave_nothing_stuck_and_a_retry_completes_the_order() {
    let stack = LocalServices::new(1).await;
    let healthy = context_with_clock(
        stack.store(),
        stack.idempotency_store(),
        stack.scheduler(),
        FixedClock::at(SystemClock.now()),
    );

    // The Scheduler is down: nothing is reserved.
    let product = stack.product("scheduler-down", 100, STOCK).await;
    let request = order_request("gina", &[(&product, UNITS)]).idempotency_key("k-1");
    let down = context(
        stack.store(),
        stack.idempotency_store(),
        stack.unreachable_scheduler().await,
    );
    let first = send(&down, &request).await;
    assert_eq!(first.status(), 503);
    assert_eq!(stack.stock(&product).await, STOCK);
    let scheduler_down =
        assert_completed_by_retry(&stack, &healthy, &request, "gina", &product).await;

    // DynamoDB is down for the orders: the timeout is scheduled (it will be dead-lettered if no
    // retry comes), nothing is reserved.
    let product = stack.product("orders-down", 100, STOCK).await;
    let request = order_request("ivy", &[(&product, UNITS)]).idempotency_key("k-3");
    let down = context(
        stack.unreachable_store().await,
        stack.idempotency_store(),
        stack.scheduler(),
    );
    let first = send(&down, &request).await;
    assert_eq!(first.status(), 503);
    assert_eq!(stack.stock(&product).await, STOCK);
    let orders_down = assert_completed_by_retry(&stack, &healthy, &request, "ivy", &product).await;

    // DynamoDB is down for the keys: nothing happens at all.
    let product = stack.product("keys-down", 100, STOCK).await;
    let request = order_request("jo", &[(&product, UNITS)]).idempotency_key("k-4");
    let down = context(
        stack.store(),
        stack.unreachable_idempotency_store().await,
        stack.scheduler(),
    );
    let first = send(&down, &request).await;
    assert_eq!(first.status(), 503);
    assert_eq!(stack.stock(&product).await, STOCK);
    let keys_down = assert_completed_by_retry(&stack, &healthy, &request, "jo", &product).await;

    assert_inserted_once(&stack, &[scheduler_down, orders_down, keys_down]).await;
}

/// Sends `request` through `down`, whose dependency stalls, and checks the answer: 503 with
/// `Retry-After` within `STALLED_ANSWER_WITHIN`, the stall reached, stock untouched.
async fn assert_stall_answered<P: ApiPorts>(
    stack: &LocalServices,
    down: &ApiContext<P>,
    stall: &StalledEndpoint,
    request: &ApiGatewayRequest,
    product: &ProductId,
) {
    common::assert_stall_answered(stall, async || send(down, request).await).await;
    assert_eq!(stack.stock(product).await, STOCK);
}

#[tokio::test]
async fn stalled_dependencies_answer_503_within_seconds_and_a_retry_completes_the_order() {
    let stack = LocalServices::new(1).await;
    let healthy = context_with_clock(
        stack.store(),
        stack.idempotency_store(),
        stack.scheduler(),
        FixedClock::at(SystemClock.now()),
    );
    let case = async |name: &str, user: &str| {
        let product = stack.product(name, 100, STOCK).await;
        let request = order_request(user, &[(&product, UNITS)]).idempotency_key(name);
        (product, request)
    };

    // One frozen dependency per order; the three run at once, as each waits out the same timeouts.
    let keys_stall = StalledEndpoint::start().await;
    let (keys_product, keys_request) = case("keys-stall", "kim").await;
    let keys_down = context(
        stack.store(),
        stack.stalled_idempotency_store(&keys_stall).await,
        stack.scheduler(),
    );
    let scheduler_stall = StalledEndpoint::start().await;
    let (scheduler_product, scheduler_request) = case("scheduler-stall", "lee").await;
    let scheduler_down = context(
        stack.store(),
        stack.idempotency_store(),
        stack.stalled_scheduler(&scheduler_stall).await,
    );
    let orders_stall = StalledEndpoint::start().await;
    let (orders_product, orders_request) = case("orders-stall", "max").await;
    let orders_down = context(
        stack.stalled_store(&orders_stall).await,
        stack.idempotency_store(),
        stack.scheduler(),
    );
    tokio::join!(
        assert_stall_answered(
            &stack,
            &keys_down,
            &keys_stall,
            &keys_request,
            &keys_product
        ),
        assert_stall_answered(
            &stack,
            &scheduler_down,
            &scheduler_stall,
            &scheduler_request,
            &scheduler_product
        ),
        assert_stall_answered(
            &stack,
            &orders_down,
            &orders_stall,
            &orders_request,
            &orders_product
        ),
    );

    // Once the peer answers again, a retry with the same key completes each order once.
    let mut ids = Vec::new();
    for (request, user, product) in [
        (&keys_request, "kim", &keys_product),
        (&scheduler_request, "lee", &scheduler_product),
        (&orders_request, "max", &orders_product),
    ] {
        ids.push(assert_completed_by_retry(&stack, &healthy, request, user, product).await);
    }
    assert_inserted_once(&stack, &ids).await;
}

#[tokio::test]
async fn a_timeout_that_cannot_be_removed_after_a_failed_reservation_does_not_change_the_answer() {
    let stack = LocalServices::new(1).await;
    let api = context(
        stack.store(),
        stack.idempotency_store(),
        Faulty::new(stack.scheduler(), Dependency::Scheduler),
    );
    let product = stack.product("scarce", 100, 3).await;
    let first = send(&api, &order_request("kim", &[(&product, 1)])).await;
    assert_eq!(first.status(), 201);
    // Another function sells one more: this one still believes 2 are left, so it schedules the
    // timeout before its transaction finds only 1.
    let elsewhere = context(stack.store(), stack.idempotency_store(), stack.scheduler());
    let sold = send(&elsewhere, &order_request("lee", &[(&product, 1)])).await;
    assert_eq!(sold.status(), 201);
    let placed = stack.order_ids().await;
    api.storefront.scheduler.fail_next("cancel", When::Before);
    let response = send(&api, &order_request("kim", &[(&product, 2)])).await;
    assert_eq!(outcome(&response), (409, Some(code::OUT_OF_STOCK.into())));
    assert_eq!(api.storefront.scheduler.fired(), ["cancel"]);
    // The orphan schedule names an order that does not exist; the consumer dead-letters it.
    assert_eq!(stack.schedule_names().await.len(), placed.len() + 1);
    assert_eq!(stack.order_ids().await, placed);
    assert_eq!(stack.stock(&product).await, 1);
}

/// Each call orders a product new to the function, which reads it (with the order) first.
const DYNAMODB_CALLS: [&str; 4] = ["claim", "order_and_products", "place_order", "complete"];

/// Each DynamoDB call of `POST /orders` is applied and its response lost on the wire (the
/// connection reset before the answer arrives): the SDK retries it, and the request still ends
/// with one order, reserved once, answered 201 and replayed alike.
#[tokio::test]
async fn a_response_lost_on_the_wire_at_any_dynamodb_call_still_places_the_order_once() {
    let stack = LocalServices::new(1).await;
    let proxy = FaultProxy::before_moto().await;
    let api = dynamodb_behind(&stack, &proxy).await;
    for (n, call) in DYNAMODB_CALLS.into_iter().enumerate() {
        let product = stack.product(&format!("lost-{call}"), 100, STOCK).await;
        let user = format!("user-lost-{n}");
        let request = order_request(&user, &[(&product, UNITS)]).idempotency_key(call);
        let first = proxy.responses();
        proxy.lose_response(first + n);
        let answered = send(&api, &request).await;
        figures::report(
            "create-order, a response lost on the wire",
            format!(
                "response to {call} lost: {} after {} responses",
                answered.status(),
                proxy.responses() - first
            ),
        );
        assert_eq!(answered.status(), 201, "{call}: {}", json_body(&answered));
        assert_eq!(proxy.resets(), n + 1, "{call}: the response was lost");
        let id = order_id(&answered);
        assert_eq!(
            stack.stock(&product).await,
            STOCK - UNITS,
            "{call}: reserved once"
        );
        let orders = stack
            .store()
            .list_orders(&UserId::parse(&user).unwrap(), &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(orders.items.len(), 1, "{call}: one order");
        assert!(stack.is_scheduled(&id).await, "{call}: scheduled");
        let replayed = send(&api, &request).await;
        assert_eq!(
            json_body(&replayed),
            json_body(&answered),
            "{call}: replayed"
        );
        assert_nothing_stuck(&stack, &product).await;
    }
}

/// The Scheduler's answer to `CreateSchedule` is lost on the wire after it created the schedule:
/// the SDK's retry finds it there, which counts as scheduled, and the order is placed once.
#[tokio::test]
async fn a_schedule_created_but_answered_too_late_is_taken_as_scheduled() {
    let stack = LocalServices::new(1).await;
    let proxy = FaultProxy::before_moto().await;
    let api = context(
        stack.store(),
        stack.idempotency_store(),
        stack.proxied_scheduler(&proxy).await,
    );
    let product = stack.product("lost-schedule", 100, STOCK).await;
    proxy.lose_response(proxy.responses());
    let answered = send(&api, &order_request("lou", &[(&product, UNITS)])).await;
    assert_eq!(answered.status(), 201, "{}", json_body(&answered));
    assert_eq!(proxy.resets(), 1, "the answer was lost");
    figures::report(
        "create-order, the CreateSchedule answer lost",
        format!(
            "CreateSchedule answer lost: 201 after {} Scheduler responses",
            proxy.responses()
        ),
    );
    assert!(stack.is_scheduled(&order_id(&answered)).await);
    assert_eq!(stack.stock(&product).await, STOCK - UNITS);
    assert_nothing_stuck(&stack, &product).await;
}

/// DynamoDB and the Scheduler slow to answer, through a proxy in front of moto: each response
/// later than usual but within the SDK's attempt timeout only makes the order slower (201); each
/// response later than the attempt timeout makes every attempt time out, and the answer is 503
/// with `Retry-After` within the operation timeout; once they are fast again, a retry with the
/// same key places the order once.
#[tokio::test]
async fn slow_dynamodb_and_scheduler_answers_are_slower_or_503_in_time_and_a_retry_completes() {
    within(TEST_LIMIT, "the whole test", async {
        const SLOW: Duration = Duration::from_millis(300);
        const TOO_SLOW: Duration = AWS_ATTEMPT_TIMEOUT.saturating_add(Duration::from_secs(1));
        let stack = LocalServices::new(1).await;
        let proxy = FaultProxy::before_moto().await;
        let api = context_with_clock(
            stack.proxied_store(&proxy).await,
            stack.proxied_idempotency_store(&proxy).await,
            stack.proxied_scheduler(&proxy).await,
            FixedClock::at(SystemClock.now()),
        );

        proxy.slow_down(SLOW);
        let product = stack.product("slow", 100, STOCK).await;
        let request = order_request("quin", &[(&product, UNITS)]).idempotency_key("slow");
        let (first, started) = (proxy.responses(), Instant::now());
        let slow = within(STALLED_ANSWER_WITHIN, "a slow order", send(&api, &request)).await;
        let (slow_took, slow_calls) = (started.elapsed(), proxy.responses() - first);
        assert_eq!(slow.status(), 201, "{}", json_body(&slow));
        assert!(
            slow_took >= SLOW * 4,
            "each of the calls was slowed: {slow_took:?}"
        );
        proxy.slow_down(Duration::ZERO);
        assert_completed_by_retry(&stack, &api, &request, "quin", &product).await;

        proxy.slow_down(TOO_SLOW);
        let product = stack.product("too-slow", 100, STOCK).await;
        let request = order_request("rae", &[(&product, UNITS)]).idempotency_key("too-slow");
        let started = Instant::now();
        let too_slow = within(
            STALLED_ANSWER_WITHIN,
            "a too slow order",
            send(&api, &request),
        )
        .await;
        let too_slow_took = started.elapsed();
        proxy.slow_down(Duration::ZERO);
        assert_eq!(too_slow.status(), 503, "{}", json_body(&too_slow));
        assert!(too_slow.headers().contains_key(RETRY_AFTER));
        assert!(
            too_slow_took < STALLED_ANSWER_WITHIN,
            "answered after {too_slow_took:?}"
        );
        assert_nothing_stuck(&stack, &product).await;
        // What a client retrying at once sees: the order, or the key still held by the request
        // the timeouts cut short (free once its lease runs out, which `assert_completed_by_retry`
        // skips ahead to).
        let first_retry =
            outcome(&within(STALLED_ANSWER_WITHIN, "a retry", send(&api, &request)).await);
        let id = assert_completed_by_retry(&stack, &api, &request, "rae", &product).await;
        figures::report(
            "create-order, slow DynamoDB and Scheduler",
            format!(
            "DynamoDB and Scheduler {SLOW:?} slow: 201 after {slow_took:.1?} ({slow_calls} calls); \
             {TOO_SLOW:?} slow: 503 after {too_slow_took:.1?}, first retry {first_retry:?}, then \
             201 once; stock conserved, order {id} scheduled"
            ),
        );
    })
    .await;
}
