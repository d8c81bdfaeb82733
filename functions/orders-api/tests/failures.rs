//! Failures midway through paying and cancelling: each dependency failing at each step, before a
//! call reaches its service or after the service applied it, then a retry with the same
//! `Idempotency-Key`. Against moto and the Kafka broker, with the failures injected into calls of
//! the real adapters.
//!
//! After every failure: a PENDING order still has its timeout and stock plus what orders hold is
//! what there was. After the retry: the order is PAID or CANCELLED, once, its timeout is gone, its
//! event is published, and further retries replay the answer.

mod common;

use common::*;
use orderflow_domain::ports::OrderStore;
use orderflow_domain::testing::faults::When;
use orderflow_http::response::IDEMPOTENT_REPLAYED;
use orderflow_http::testing::{ApiGatewayRequest, json_body};
use orderflow_testing::proxy::FaultProxy;
use orderflow_testing::services::LocalServices;
use orderflow_testing::stall::StalledEndpoint;
use orderflow_types::{EventType, Order, OrderId, OrderStatus, ProductId};

const STOCK: u64 = 5;
const UNITS: u32 = 2;

/// Every call paying makes, in order, on the adapter that makes it.
const PAY_STEPS: [(Target, &str); 6] = [
    (Target::Idempotency, "claim"),
    (Target::Store, "get_order"),
    (Target::Store, "mark_paid"),
    (Target::Scheduler, "cancel"),
    (Target::Publisher, "publish"),
    (Target::Idempotency, "complete"),
];

/// Every call cancelling makes, in order, on the adapter that makes it.
const CANCEL_STEPS: [(Target, &str); 6] = [
    (Target::Idempotency, "claim"),
    (Target::Store, "get_order"),
    (Target::Store, "cancel_order"),
    (Target::Scheduler, "cancel"),
    (Target::Publisher, "publish"),
    (Target::Idempotency, "complete"),
];

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
    steps: [(Target, &'static str); 6],
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
    let announced = events_of(&stack, EventType::Paid).await;
    assert!(
        paid.iter().all(|id| announced.contains(id)),
        "every payment is announced"
    );
}

#[tokio::test]
async fn every_step_of_cancelling_can_fail_and_a_retry_completes_the_cancellation_once() {
    let (stack, cancelled) =
        every_step_fails_once(CANCEL_STEPS, cancel, OrderStatus::Cancelled, STOCK).await;
    let announced = events_of(&stack, EventType::Cancelled).await;
    assert!(
        cancelled.iter().all(|id| announced.contains(id)),
        "every cancellation is announced"
    );
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
        stack.publisher(),
    );
    let scheduler_stall = StalledEndpoint::start().await;
    let scheduler_down = context(
        stack.store(),
        stack.idempotency_store(),
        stack.stalled_scheduler(&scheduler_stall).await,
        stack.publisher(),
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
    assert_eq!(events_of(&stack, EventType::Paid).await, [to_pay.order_id]);
    assert_eq!(
        events_of(&stack, EventType::Cancelled).await,
        [to_cancel.order_id]
    );
}

#[tokio::test]
async fn a_payment_without_a_key_is_completed_by_paying_again() {
    let stack = LocalServices::new(1).await;
    let product = stack.product("kettle", 5990, STOCK).await;
    let placed = Placer::new(&stack).place("gus", &[(&product, UNITS)]).await;
    let api = context(
        stack.store(),
        stack.idempotency_store(),
        stack.scheduler(),
        stack.unreachable_publisher(),
    );
    let first = send(&api, &pay("gus", &placed.order_id)).await;
    assert_eq!(first.status(), 503);
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
    let announced = events_of(&stack, EventType::Paid).await;
    assert_eq!(announced, [placed.order_id]);
}

#[tokio::test]
async fn a_cancellation_without_a_key_is_completed_by_cancelling_again() {
    let stack = LocalServices::new(1).await;
    let product = stack.product("kettle", 5990, STOCK).await;
    let placed = Placer::new(&stack)
        .place("hana", &[(&product, UNITS)])
        .await;
    // The Scheduler is down: the order is cancelled, but its timeout stays and nothing is
    // announced.
    let down = context(
        stack.store(),
        stack.idempotency_store(),
        stack.unreachable_scheduler().await,
        stack.publisher(),
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
    let announced = events_of(&stack, EventType::Cancelled).await;
    assert_eq!(announced, [placed.order_id]);
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
            println!(
                "{name}: response to {call} lost: {} after {} responses",
                answered.status(),
                proxy.responses() - first
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
