//! Building the handler on a fresh local stack, placing orders to act on, and sending requests as
//! API Gateway would.

#![allow(dead_code)] // Each test file uses part of this.

use chrono::TimeDelta;
use lambda_http::{Body, Response};
use orderflow_core::adapters::dynamodb::DynamoStore;
use orderflow_core::adapters::kafka::KafkaPublisher;
use orderflow_core::adapters::scheduler::EventBridgeScheduler;
use orderflow_core::adapters::system::SystemClock;
use orderflow_core::orders::{NewOrder, Orders};
use orderflow_core::ports::{
    Clock, EventPublisher, IdempotencyStore, NotificationStore, OrderStore, ProductStore,
    TimeoutScheduler,
};
use orderflow_core::testing::stack::LocalStack;
use orderflow_http::idempotency::Idempotency;
use orderflow_http::identity::IdentityConfig;
use orderflow_http::testing::ApiGatewayRequest;
use orderflow_types::{EventType, Order, OrderId, ProductId, Quantity, UserId};
use orders_api::{Deps, handle};

pub const PAYMENT_TIMEOUT: TimeDelta = TimeDelta::minutes(30);

pub fn deps<S, K, T, P>(store: S, idempotency: K, scheduler: T, publisher: P) -> Deps<S, K, T, P> {
    with_clock(store, idempotency, scheduler, publisher, SystemClock)
}

pub fn with_clock<S, K, T, P, C>(
    store: S,
    idempotency: K,
    scheduler: T,
    publisher: P,
    clock: C,
) -> Deps<S, K, T, P, C> {
    Deps {
        orders: Orders {
            store,
            scheduler,
            publisher,
            clock,
            payment_timeout: PAYMENT_TIMEOUT,
        },
        idempotency: Idempotency {
            store: idempotency,
            ttl: TimeDelta::hours(24),
        },
        identity: IdentityConfig::default(),
    }
}

/// The handler on `stack`'s real adapters.
pub fn healthy(
    stack: &LocalStack,
) -> Deps<
    DynamoStore,
    orderflow_core::adapters::dynamodb::DynamoIdempotencyStore,
    EventBridgeScheduler,
    KafkaPublisher,
> {
    deps(
        stack.store(),
        stack.idempotency_store(),
        stack.scheduler(),
        stack.publisher(),
    )
}

/// Places orders the way create-order does, to have something to pay and cancel.
pub struct Placer {
    orders: Orders<DynamoStore, EventBridgeScheduler, KafkaPublisher, SystemClock>,
}

impl Placer {
    pub fn new(stack: &LocalStack) -> Self {
        Self {
            orders: Orders {
                store: stack.store(),
                scheduler: stack.scheduler(),
                publisher: stack.publisher(),
                clock: SystemClock,
                payment_timeout: PAYMENT_TIMEOUT,
            },
        }
    }

    pub async fn place(&self, user: &str, items: &[(&ProductId, u32)]) -> Order {
        let new = NewOrder {
            order_id: OrderId::generate(),
            user_id: UserId::parse(user).unwrap(),
            items: items
                .iter()
                .map(|&(product, units)| {
                    (product.clone(), Quantity::new(u64::from(units)).unwrap())
                })
                .collect(),
            accepted_at: self.orders.clock.now(),
        };
        self.orders
            .place(&new)
            .await
            .unwrap_or_else(|err| panic!("placing an order for {user}: {err}"))
    }
}

pub fn pay(user: &str, order: &OrderId) -> ApiGatewayRequest {
    ApiGatewayRequest::post(format!("/orders/{order}/pay")).user(user)
}

pub fn cancel(user: &str, order: &OrderId) -> ApiGatewayRequest {
    ApiGatewayRequest::post(format!("/orders/{order}/cancel")).user(user)
}

pub async fn send<S, K, T, P, C>(
    deps: &Deps<S, K, T, P, C>,
    request: &ApiGatewayRequest,
) -> Response<Body>
where
    S: ProductStore + OrderStore + NotificationStore,
    K: IdempotencyStore,
    T: TimeoutScheduler,
    P: EventPublisher,
    C: Clock,
{
    match handle(deps, request.build()).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The response's body as an order.
pub fn order(response: &Response<Body>) -> Order {
    let body = orderflow_http::testing::json_body(response);
    serde_json::from_value(body.clone())
        .unwrap_or_else(|err| panic!("not an order ({err}): {body}"))
}

/// The order id of every event of `event_type` on the stack's topic, duplicates included.
pub async fn events_of(stack: &LocalStack, event_type: EventType) -> Vec<OrderId> {
    stack
        .events()
        .await
        .into_iter()
        .filter(|event| event.event_type == event_type)
        .map(|event| event.order_id)
        .collect()
}
