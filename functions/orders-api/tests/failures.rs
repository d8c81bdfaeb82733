//! Failures midway through paying and cancelling: each dependency failing at each step, before a
//! call reaches its service or after the service applied it, then a retry with the same
//! `Idempotency-Key`. Against moto, with the failures injected into calls of the real adapters. No
//! broker is involved: the event of a payment or cancellation is the order's change on the orders
//! table's stream.
//!
//! After every failure: a PENDING order still has its timeout and stock plus what orders hold is
//! what there was. After the retry: the order is PAID or CANCELLED, once, its timeout is gone, its
//! change is on the stream once, and further retries replay the answer.

mod common;

use std::time::{Duration, Instant};

use common::*;
use lambda_http::http::header::RETRY_AFTER;
use orderflow_adapters::AWS_ATTEMPT_TIMEOUT;
use orderflow_adapters::system::SystemClock;
use orderflow_domain::ports::Clock;
use orderflow_domain::ports::OrderStore;
use orderflow_domain::testing::FixedClock;
use orderflow_domain::testing::faults::When;
use orderflow_http::response::IDEMPOTENT_REPLAYED;
use orderflow_http::testing::{ApiGatewayRequest, json_body, outcome};
use orderflow_testing::figures;
use orderflow_testing::local::{TEST_LIMIT, within};
use orderflow_testing::proxy::FaultProxy;
use orderflow_testing::services::LocalServices;
use orderflow_testing::stall::StalledEndpoint;
use orderflow_types::{Order, OrderId, OrderStatus, ProductId};

const STOCK: u64 = 5;
const UNITS: u32 = 2;

/// Every call paying makes, in order, on the adapter that makes it.
const PAY_STEPS: [(Target, &str); 5] = [
    (Target::Idempotency, "claim"),
    (Target::Store, "get_order"),
    (Target::Store, "mark_paid"),
    (Target::Scheduler, "cancel"),
    (Target::Idempotency, "complete"),
];

/// Every call cancelling makes, in order, on the adapter that makes it.
const CANCEL_STEPS: [(Target, &str); 5] = [
    (Target::Idempotency, "claim"),
    (Target::Store, "get_order"),
    (Target::Store, "cancel_order"),
    (Target::Scheduler, "cancel"),
    (Target::Idempotency, "complete"),
];

/// Each of `ids` was placed and then moved to `status` once on the orders table's stream: what
/// order-stream announces as `created` and then `paid` or `cancelled`, once each.
async fn assert_on_the_stream_once(stack: &LocalServices, ids: &[OrderId], status: OrderStatus) {
    for id in ids {
        assert_eq!(
            stack.status_changes(id).await,
            [
                (None, Some(OrderStatus::Pending)),
                (Some(OrderStatus::Pending), Some(status)),
            ],
            "order {id}"
        );
    }
}

/// A PENDING order still has its timeout; stock plus what PENDING and PAID orders hold is STOCK.
async fn assert_nothing_stuck(stack: &LocalServices, product: &ProductId, order: &OrderId) {
    let current = stack.store().get_order(order).await.unwrap().unwrap();
    if current.status == OrderStatus::Pending {
        assert!(
            stack.is_scheduled(order).await,
            "{order} is PENDING without its timeout"
        );
    }
    let held = if current.status == OrderStatus::Cancelled {
        0
    } else {
        u64::from(UNITS)
    };
    assert_eq!(
        stack.stock(product).await + held,
        STOCK,
        "stock is conserved"
    );
}

/// Builds the request that pays or cancels an order for its user.
type Request = fn(&str, &OrderId) -> ApiGatewayRequest;

/// Runs every step of `steps` failing before and after, for the request `make` builds; each
/// retry must end with the order in `expected` status and stock at `stock_after`.
async fn every_step_fails_once(
    steps: [(Target, &'static str); 5],
    make: Request,
    expected: OrderStatus,
    stock_after: u64,
) -> (LocalServices, Vec<OrderId>) {
    let stack = LocalServices::new(3).await;
    let placer = Placer::new(&stack);
    let api = faulty(&stack);
    let mut changed = Vec::new();
    for (n, (target, operation)) in steps.into_iter().enumerate() {
        for when in [When::Before, When::After] {
            let case = format!("{n}-{operation}-{when:?}")
                .to_lowercase()
                .replace('_', "-");
            let product = stack.product(&format!("sku-{case}"), 100, STOCK).await;
            let user = format!("user-{case}");
            let placed: Order = placer.place(&user, &[(&product, UNITS)]).await;
            let request = make(&user, &placed.order_id).idempotency_key(&format!("key-{case}"));

            let before = target.fired(&api).len();
            target.arm(&api, operation, when);
            let first = send(&api, &request).await;
            assert_eq!(
                target.fired(&api)[before..],
                [operation],
                "{case}: the fault was hit"
            );
            let expected_first = if operation == "complete" { 200 } else { 503 };
            assert_eq!(
                first.status(),
                expected_first,
                "{case}: {}",
                json_body(&first)
            );
            assert_nothing_stuck(&stack, &product, &placed.order_id).await;

            let retried = retry(&api, async || send(&api, &request).await).await;
            assert_eq!(retried.status(), 200, "{case}: {}", json_body(&retried));
            let done = order(&retried);
            assert_eq!(done.status, expected, "{case}");
            let replayed = send(&api, &request).await;
            assert_eq!(replayed.headers()[IDEMPOTENT_REPLAYED], "true", "{case}");
            assert_eq!(json_body(&replayed), json_body(&retried), "{case}");

            assert!(
                !stack.is_scheduled(&placed.order_id).await,
                "{case}: timeout removed"
            );
            assert_eq!(
                stack.stock(&product).await,
                stock_after,
                "{case}: applied once"
            );
            assert_nothing_stuck(&stack, &product, &placed.order_id).await;
            changed.push(placed.order_id);
        }
    }
    (stack, changed)
}

#[tokio::test]
async fn every_step_of_paying_can_fail_and_a_retry_completes_the_payment_once() {
    let (stack, paid) =
        every_step_fails_once(PAY_STEPS, pay, OrderStatus::Paid, STOCK - u64::from(UNITS)).await;
    assert_on_the_stream_once(&stack, &paid, OrderStatus::Paid).await;
}

#[tokio::test]
async fn every_step_of_cancelling_can_fail_and_a_retry_completes_the_cancellation_once() {
    let (stack, cancelled) =
        every_step_fails_once(CANCEL_STEPS, cancel, OrderStatus::Cancelled, STOCK).await;
    assert_on_the_stream_once(&stack, &cancelled, OrderStatus::Cancelled).await;
}

#[tokio::test]
async fn stalled_dependencies_answer_503_within_seconds_and_paying_or_cancelling_again_completes() {
    let stack = LocalServices::new(1).await;
    let product = stack.product("kettle", 5990, STOCK).await;
    let placer = Placer::new(&stack);
    let to_pay = placer.place("ida", &[(&product, UNITS)]).await;
    let to_cancel = placer.place("jon", &[(&product, UNITS)]).await;

    // DynamoDB frozen while paying: nothing is paid. The Scheduler frozen while cancelling: the
    // cancellation stands, its timeout stays.
    let store_stall = StalledEndpoint::start().await;
    let store_down = context(
        stack.stalled_store(&store_stall).await,
        stack.idempotency_store(),
        stack.scheduler(),
    );
    let scheduler_stall = StalledEndpoint::start().await;
    let scheduler_down = context(
        stack.store(),
        stack.idempotency_store(),
        stack.stalled_scheduler(&scheduler_stall).await,
    );
    let (paying, cancelling) = (
        pay("ida", &to_pay.order_id),
        cancel("jon", &to_cancel.order_id),
    );
    tokio::join!(
        assert_stall_answered(&store_stall, async || send(&store_down, &paying).await),
        assert_stall_answered(&scheduler_stall, async || {
            send(&scheduler_down, &cancelling).await
        }),
    );
    let status = async |id: &OrderId| stack.store().get_order(id).await.unwrap().unwrap().status;
    assert_eq!(status(&to_pay.order_id).await, OrderStatus::Pending);
    assert_eq!(status(&to_cancel.order_id).await, OrderStatus::Cancelled);
    assert!(stack.is_scheduled(&to_cancel.order_id).await);

    let healthy = common::healthy(&stack);
    let paid = send(&healthy, &pay("ida", &to_pay.order_id)).await;
    assert_eq!(paid.status(), 200, "{}", json_body(&paid));
    let cancelled = send(&healthy, &cancel("jon", &to_cancel.order_id)).await;
    assert_eq!(cancelled.status(), 200, "{}", json_body(&cancelled));
    assert!(!stack.is_scheduled(&to_cancel.order_id).await);
    assert!(!stack.is_scheduled(&to_pay.order_id).await);
    assert_eq!(
        stack.stock(&product).await,
        STOCK - UNITS as u64,
        "held by the paid order"
    );
    assert_on_the_stream_once(&stack, &[to_pay.order_id], OrderStatus::Paid).await;
    assert_on_the_stream_once(&stack, &[to_cancel.order_id], OrderStatus::Cancelled).await;
}

#[tokio::test]
async fn a_payment_without_a_key_is_completed_by_paying_again() {
    let stack = LocalServices::new(1).await;
    let product = stack.product("kettle", 5990, STOCK).await;
    let placed = Placer::new(&stack).place("gus", &[(&product, UNITS)]).await;
    // The Scheduler is down: the order is paid, but its timeout stays (a timeout that fires for
    // a paid order changes nothing).
    let api = context(
        stack.store(),
        stack.idempotency_store(),
        stack.unreachable_scheduler().await,
    );
    let first = send(&api, &pay("gus", &placed.order_id)).await;
    assert_eq!(first.status(), 503);
    assert!(stack.is_scheduled(&placed.order_id).await);
    let stored = stack
        .store()
        .get_order(&placed.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, OrderStatus::Paid, "the payment stands");

    let healthy = common::healthy(&stack);
    let again = send(&healthy, &pay("gus", &placed.order_id)).await;
    assert_eq!(again.status(), 200);
    assert_eq!(order(&again).updated_at, stored.updated_at, "paid once");
    assert!(
        !stack.is_scheduled(&placed.order_id).await,
        "the second payment removed the timeout"
    );
    assert_on_the_stream_once(&stack, &[placed.order_id], OrderStatus::Paid).await;
}

#[tokio::test]
async fn a_cancellation_without_a_key_is_completed_by_cancelling_again() {
    let stack = LocalServices::new(1).await;
    let product = stack.product("kettle", 5990, STOCK).await;
    let placed = Placer::new(&stack)
        .place("hana", &[(&product, UNITS)])
        .await;
    // The Scheduler is down: the order is cancelled, but its timeout stays.
    let down = context(
        stack.store(),
        stack.idempotency_store(),
        stack.unreachable_scheduler().await,
    );
    let first = send(&down, &cancel("hana", &placed.order_id)).await;
    assert_eq!(first.status(), 503);
    let stored = stack
        .store()
        .get_order(&placed.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.status,
        OrderStatus::Cancelled,
        "the cancellation stands"
    );
    assert_eq!(stack.stock(&product).await, STOCK, "its units are back");
    assert!(stack.is_scheduled(&placed.order_id).await);

    let healthy = common::healthy(&stack);
    let again = send(&healthy, &cancel("hana", &placed.order_id)).await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        order(&again).updated_at,
        stored.updated_at,
        "cancelled once"
    );
    assert_eq!(stack.stock(&product).await, STOCK, "returned once");
    assert!(
        !stack.is_scheduled(&placed.order_id).await,
        "the second cancellation removed the timeout"
    );
    assert_on_the_stream_once(&stack, &[placed.order_id], OrderStatus::Cancelled).await;
}

/// Each DynamoDB call of paying and of cancelling with an `Idempotency-Key` (claim, read,
/// transition, completion) is applied and its response lost on the wire: the SDK retries it, and
/// the order ends PAID or CANCELLED once, its stock where it belongs, the answer replayed alike.
#[tokio::test]
async fn a_response_lost_on_the_wire_at_any_dynamodb_call_still_pays_or_cancels_once() {
    let stack = LocalServices::new(1).await;
    let proxy = FaultProxy::before_moto().await;
    let api = dynamodb_behind(&stack, &proxy).await;
    let placer = Placer::new(&stack);
    let cases: [(&str, Request, OrderStatus); 2] = [
        ("pay", pay, OrderStatus::Paid),
        ("cancel", cancel, OrderStatus::Cancelled),
    ];
    for (name, make, expected) in cases {
        for (n, call) in ["claim", "get_order", "transition", "complete"]
            .into_iter()
            .enumerate()
        {
            let case = format!("{name}-{call}");
            let product = stack.product(&format!("lost-{case}"), 100, STOCK).await;
            let user = format!("user-lost-{case}");
            let placed = placer.place(&user, &[(&product, UNITS)]).await;
            let request = make(&user, &placed.order_id).idempotency_key(&case);
            let first = proxy.responses();
            proxy.lose_response(first + n);
            let answered = send(&api, &request).await;
            figures::report(
                "orders-api, a response lost on the wire",
                format!(
                    "{name}: response to {call} lost: {} after {} responses",
                    answered.status(),
                    proxy.responses() - first
                ),
            );
            assert_eq!(answered.status(), 200, "{case}: {}", json_body(&answered));
            assert_eq!(order(&answered).status, expected, "{case}");
            let stored = stack.store().get_order(&placed.order_id).await.unwrap();
            assert_eq!(stored.map(|o| o.status), Some(expected), "{case}: stored");
            assert_nothing_stuck(&stack, &product, &placed.order_id).await;
            let replayed = send(&api, &request).await;
            assert_eq!(
                json_body(&replayed),
                json_body(&answered),
                "{case}: replayed"
            );
        }
    }
    assert_eq!(proxy.resets(), 8, "every armed response was lost");
}

/// Sends `request` and checks the answer: 503 with `Retry-After` within `STALLED_ANSWER_WITHIN`;
/// how long it took.
async fn assert_unavailable_in_time<P: ApiPorts>(
    api: &ApiContext<P>,
    request: &ApiGatewayRequest,
) -> Duration {
    let started = Instant::now();
    let answer = within(STALLED_ANSWER_WITHIN, "an answer", send(api, request)).await;
    let took = started.elapsed();
    assert_eq!(answer.status(), 503, "{}", json_body(&answer));
    assert!(answer.headers().contains_key(RETRY_AFTER));
    assert!(took < STALLED_ANSWER_WITHIN, "answered after {took:?}");
    took
}

/// One order of its own product for each case, so that each case's stock can be checked alone.
async fn order_to_change(stack: &LocalServices, case: &str) -> (ProductId, Order) {
    let product = stack.product(&format!("sku-{case}"), 100, STOCK).await;
    let placed = Placer::new(stack)
        .place(&format!("user-{case}"), &[(&product, UNITS)])
        .await;
    (product, placed)
}

/// After a payment or cancellation answered 200: the order is in `expected` status, once on the
/// stream, its timeout is gone, its stock where it belongs.
async fn assert_changed_once(
    stack: &LocalServices,
    (product, placed): &(ProductId, Order),
    expected: OrderStatus,
) {
    let stored = stack.store().get_order(&placed.order_id).await.unwrap();
    assert_eq!(stored.map(|o| o.status), Some(expected));
    assert!(
        !stack.is_scheduled(&placed.order_id).await,
        "timeout removed"
    );
    let stock = if expected == OrderStatus::Paid {
        STOCK - u64::from(UNITS)
    } else {
        STOCK
    };
    assert_eq!(stack.stock(product).await, stock, "applied once");
    assert_nothing_stuck(stack, product, &placed.order_id).await;
    assert_on_the_stream_once(stack, std::slice::from_ref(&placed.order_id), expected).await;
}

/// DynamoDB and the Scheduler slow to answer, through a proxy in front of moto, paying and
/// cancelling at once: each response later than usual but within the SDK's attempt timeout only
/// makes the answer slower (200); each response later than the attempt timeout makes every
/// attempt time out, and the answer is 503 with `Retry-After` within the operation timeout; once
/// they are fast again, a retry with the same key completes the payment or cancellation once.
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
        let timed = async |request: &ApiGatewayRequest| {
            let started = Instant::now();
            let answer = within(STALLED_ANSWER_WITHIN, "an answer", send(&api, request)).await;
            (answer, started.elapsed())
        };

        proxy.slow_down(SLOW);
        let slow_pay = order_to_change(&stack, "pay-slow").await;
        let slow_cancel = order_to_change(&stack, "cancel-slow").await;
        let paying = pay("user-pay-slow", &slow_pay.1.order_id).idempotency_key("pay-slow");
        let cancelling =
            cancel("user-cancel-slow", &slow_cancel.1.order_id).idempotency_key("cancel-slow");
        let ((paid, pay_took), (cancelled, cancel_took)) =
            tokio::join!(timed(&paying), timed(&cancelling));
        proxy.slow_down(Duration::ZERO);
        assert_eq!(paid.status(), 200, "{}", json_body(&paid));
        assert_eq!(cancelled.status(), 200, "{}", json_body(&cancelled));
        for took in [pay_took, cancel_took] {
            assert!(took >= SLOW * 4, "each call was slowed: {took:?}");
        }
        assert_changed_once(&stack, &slow_pay, OrderStatus::Paid).await;
        assert_changed_once(&stack, &slow_cancel, OrderStatus::Cancelled).await;

        proxy.slow_down(TOO_SLOW);
        let to_pay = order_to_change(&stack, "pay-too-slow").await;
        let to_cancel = order_to_change(&stack, "cancel-too-slow").await;
        let paying = pay("user-pay-too-slow", &to_pay.1.order_id).idempotency_key("pay-too-slow");
        let cancelling = cancel("user-cancel-too-slow", &to_cancel.1.order_id)
            .idempotency_key("cancel-too-slow");
        let (pay_503_took, cancel_503_took) = tokio::join!(
            assert_unavailable_in_time(&api, &paying),
            assert_unavailable_in_time(&api, &cancelling),
        );
        proxy.slow_down(Duration::ZERO);
        assert_nothing_stuck(&stack, &to_pay.0, &to_pay.1.order_id).await;
        assert_nothing_stuck(&stack, &to_cancel.0, &to_cancel.1.order_id).await;
        // What a client retrying at once sees: the order, or the key still held by the request
        // the timeouts cut short (free once its lease runs out, which `retry` skips ahead to).
        let first_retry =
            outcome(&within(STALLED_ANSWER_WITHIN, "a retry", send(&api, &paying)).await);
        let paid = retry(&api, async || send(&api, &paying).await).await;
        assert_eq!(paid.status(), 200, "{}", json_body(&paid));
        let cancelled = retry(&api, async || send(&api, &cancelling).await).await;
        assert_eq!(cancelled.status(), 200, "{}", json_body(&cancelled));
        assert_changed_once(&stack, &to_pay, OrderStatus::Paid).await;
        assert_changed_once(&stack, &to_cancel, OrderStatus::Cancelled).await;
        figures::report(
            "orders-api, slow DynamoDB and Scheduler",
            format!(
                "DynamoDB and Scheduler {SLOW:?} slow: 200 after {pay_took:.1?} (pay) and \
                 {cancel_took:.1?} (cancel); {TOO_SLOW:?} slow: 503 after {pay_503_took:.1?} and \
                 {cancel_503_took:.1?}, first retry of the payment {first_retry:?}, then 200 \
                 once each; stock conserved, timeouts removed"
            ),
        );
    })
    .await;
}
