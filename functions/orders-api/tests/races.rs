//! Transitions racing each other on the same orders, against moto: paying against cancelling,
//! and both against the order-events consumer applying the order's payment timeout. Each race has
//! exactly one winner, and stock ends as what the PAID orders hold.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use orderflow_adapters::dynamodb::DynamoStore;
use orderflow_domain::consumer::EventConsumer;
use orderflow_domain::ports::ConsumerWith;
use orderflow_domain::ports::{OrderStore, TimeoutScheduler};
use orderflow_domain::testing::{FixedClock, RecordingDeadLetters};
use orderflow_http::error::code;
use orderflow_http::testing::outcome;
use orderflow_testing::figures;
use orderflow_testing::services::LocalServices;
use orderflow_types::{
    CancelReason, EventType, Order, OrderEvent, OrderId, OrderStatus, ProductId,
};

const ORDERS: usize = 12;
const STOCK: u64 = 100;

/// How long each side of the race over order `n` waits before it starts: one side or the other
/// gets a head start of up to a dozen milliseconds, or neither does, so that races start in every
/// order. Who wins depends on the machine; each race is checked for exactly one winner, whoever it
/// is.
fn head_starts(n: usize) -> (Duration, Duration) {
    let middle = ORDERS / 2;
    let millis = |steps: usize| Duration::from_millis(2 * u64::try_from(steps).unwrap_or(0));
    if n < middle {
        (millis(middle - n), Duration::ZERO)
    } else {
        (Duration::ZERO, millis(n - middle))
    }
}

async fn after<T>(delay: Duration, step: impl Future<Output = T>) -> T {
    tokio::time::sleep(delay).await;
    step.await
}

/// Places `ORDERS` orders of 1 to 3 units each.
async fn place_all(stack: &LocalServices, product: &ProductId) -> Vec<Order> {
    let placer = Placer::new(stack);
    let mut placed = Vec::new();
    for (n, units) in (0..ORDERS).zip([1, 2, 3].into_iter().cycle()) {
        placed.push(
            placer
                .place(&format!("racer-{n}"), &[(product, units)])
                .await,
        );
    }
    placed
}

/// Checks that stock is what it was less what the PAID orders hold, and that no order is left
/// PENDING or with its timeout.
async fn assert_settled(
    stack: &LocalServices,
    product: &ProductId,
    orders: &[Order],
) -> Vec<Order> {
    let mut settled = Vec::new();
    let mut held = 0;
    for placed in orders {
        let current = stack
            .store()
            .get_order(&placed.order_id)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(current.status, OrderStatus::Pending, "{}", current.order_id);
        assert!(
            !stack.is_scheduled(&current.order_id).await,
            "{}",
            current.order_id
        );
        if current.status == OrderStatus::Paid {
            held += u64::from(current.lines[0].quantity.get());
        }
        settled.push(current);
    }
    assert_eq!(
        stack.stock(product).await,
        STOCK - held,
        "stock is conserved"
    );
    settled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_racing_cancelling_has_exactly_one_winner() {
    let stack = LocalServices::new(1).await;
    let product = stack.product("contested", 100, STOCK).await;
    let orders = place_all(&stack, &product).await;
    let api = Arc::new(healthy(&stack));

    let races = orders.iter().enumerate().map(|(n, placed)| {
        let api = Arc::clone(&api);
        let (user, id) = (placed.user_id.to_string(), placed.order_id.clone());
        let (pay_after, cancel_after) = head_starts(n);
        tokio::spawn(async move {
            let (paying, cancelling) = (pay(&user, &id), cancel(&user, &id));
            let (paid, cancelled) = tokio::join!(
                after(pay_after, send(&api, &paying)),
                after(cancel_after, send(&api, &cancelling))
            );
            (outcome(&paid), outcome(&cancelled))
        })
    });
    let results = futures::future::join_all(races).await;
    let settled = assert_settled(&stack, &product, &orders).await;
    let conflict = Some(code::ORDER_STATUS_CONFLICT.to_owned());
    let mut winners = (0, 0);
    for (result, current) in results.into_iter().zip(&settled) {
        let (paid, cancelled) = result.expect("the race task");
        match current.status {
            OrderStatus::Paid => {
                assert_eq!((paid, cancelled), ((200, None), (409, conflict.clone())));
                winners.0 += 1;
            }
            OrderStatus::Cancelled => {
                assert_eq!((paid, cancelled), ((409, conflict.clone()), (200, None)));
                assert_eq!(current.cancel_reason, Some(CancelReason::Customer));
                winners.1 += 1;
            }
            OrderStatus::Pending => unreachable!("checked by assert_settled"),
        }
    }
    figures::report(
        "pay racing cancel",
        format!(
            "payments won {}, cancellations won {}; one winner each, stock conserved",
            winners.0, winners.1
        ),
    );
}

/// The order-events consumer, on the stack, as it applies records from the topic, with its clock
/// past every payment deadline of `orders`: it applies a timeout only once the deadline passed.
fn consumer(
    stack: &LocalServices,
    orders: &[Order],
) -> EventConsumer<ConsumerWith<DynamoStore, RecordingDeadLetters, FixedClock>> {
    let deadline = orders
        .iter()
        .map(|order| order.payment_due_at)
        .max()
        .unwrap_or_else(chrono::Utc::now);
    EventConsumer {
        store: stack.store(),
        dead_letters: RecordingDeadLetters::default(),
        clock: FixedClock::at(deadline + chrono::TimeDelta::seconds(1)),
    }
}

/// The order's schedule fires: the Scheduler deletes it (ActionAfterCompletion=DELETE) and
/// order-timeout publishes the event that [`timeout_of`] builds for the consumer to apply.
async fn fire<P: ApiPorts>(api: &ApiContext<P>, id: &OrderId) {
    api.storefront
        .scheduler
        .cancel(id)
        .await
        .unwrap_or_else(|err| panic!("firing the schedule of {id}: {err}"));
}

fn timeout_of(order: &Order) -> OrderEvent {
    OrderEvent::new(
        order.order_id.clone(),
        order.user_id.clone(),
        EventType::Timeout,
        order.payment_due_at,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_racing_the_payment_timeout_has_exactly_one_winner() {
    let stack = LocalServices::new(1).await;
    let product = stack.product("contested", 100, STOCK).await;
    let orders = place_all(&stack, &product).await;
    let api = Arc::new(healthy(&stack));
    let consumer = Arc::new(consumer(&stack, &orders));

    let races = orders.iter().enumerate().map(|(n, placed)| {
        let (api, consumer) = (Arc::clone(&api), Arc::clone(&consumer));
        let (user, id) = (placed.user_id.to_string(), placed.order_id.clone());
        let timeout = timeout_of(placed);
        let (pay_after, timeout_after) = head_starts(n);
        tokio::spawn(async move {
            fire(&api, &id).await;
            let paying = pay(&user, &id);
            let (paid, applied) = tokio::join!(
                after(pay_after, send(&api, &paying)),
                after(timeout_after, consumer.apply(&timeout))
            );
            applied.unwrap_or_else(|err| panic!("the timeout of {id} failed: {err}"));
            (outcome(&paid), order_if_ok(&paid))
        })
    });
    let results = futures::future::join_all(races).await;
    let settled = assert_settled(&stack, &product, &orders).await;
    let mut winners = (0, 0);
    for (result, current) in results.into_iter().zip(&settled) {
        let (paid, answered) = result.expect("the race task");
        match current.status {
            OrderStatus::Paid => {
                assert_eq!(paid, (200, None));
                assert_eq!(answered.map(|o| o.status), Some(OrderStatus::Paid));
                winners.0 += 1;
            }
            OrderStatus::Cancelled => {
                assert_eq!(paid, (409, Some(code::ORDER_STATUS_CONFLICT.to_owned())));
                assert_eq!(current.cancel_reason, Some(CancelReason::PaymentTimeout));
                winners.1 += 1;
            }
            OrderStatus::Pending => unreachable!("checked by assert_settled"),
        }
    }
    figures::report(
        "pay racing the payment timeout",
        format!(
            "payments won {}, timeouts won {}; one winner each, stock conserved",
            winners.0, winners.1
        ),
    );
    assert!(consumer.dead_letters.records().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_racing_the_payment_timeout_returns_the_stock_once() {
    let stack = LocalServices::new(1).await;
    let product = stack.product("contested", 100, STOCK).await;
    let orders = place_all(&stack, &product).await;
    let api = Arc::new(healthy(&stack));
    let consumer = Arc::new(consumer(&stack, &orders));

    let races = orders.iter().enumerate().map(|(n, placed)| {
        let (api, consumer) = (Arc::clone(&api), Arc::clone(&consumer));
        let (user, id) = (placed.user_id.to_string(), placed.order_id.clone());
        let timeout = timeout_of(placed);
        let (cancel_after, timeout_after) = head_starts(n);
        tokio::spawn(async move {
            fire(&api, &id).await;
            let cancelling = cancel(&user, &id);
            let (cancelled, applied) = tokio::join!(
                after(cancel_after, send(&api, &cancelling)),
                after(timeout_after, consumer.apply(&timeout))
            );
            applied.unwrap_or_else(|err| panic!("the timeout of {id} failed: {err}"));
            outcome(&cancelled)
        })
    });
    for race in futures::future::join_all(races).await {
        // Either way the order ends cancelled, and the owner's request succeeds.
        assert_eq!(race.expect("the race task"), (200, None));
    }
    let settled = assert_settled(&stack, &product, &orders).await;
    assert!(settled.iter().all(|o| o.status == OrderStatus::Cancelled));
    assert_eq!(
        stack.stock(&product).await,
        STOCK,
        "every unit returned, once"
    );
}

fn order_if_ok(response: &lambda_http::Response<lambda_http::Body>) -> Option<Order> {
    (response.status() == 200).then(|| order(response))
}
