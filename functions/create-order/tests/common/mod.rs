//! Building the handler on a fresh local stack, and sending it requests as API Gateway would.

#![allow(dead_code)] // Each test file uses part of this.

use chrono::TimeDelta;
use create_order::{Deps, handle};
use lambda_http::{Body, Response};
use orderflow_core::adapters::system::{SystemClock, UuidV7Ids};
use orderflow_core::orders::Orders;
use orderflow_core::ports::{
    Clock, EventPublisher, IdSource, IdempotencyStore, OrderStore, ProductStore, TimeoutScheduler,
};
use orderflow_core::testing::stack::LocalStack;
use orderflow_http::idempotency::Idempotency;
use orderflow_http::identity::IdentityConfig;
use orderflow_http::testing::ApiGatewayRequest;
use orderflow_types::{EventType, OrderId, ProductId};
use serde_json::json;

pub const PAYMENT_TIMEOUT: TimeDelta = TimeDelta::minutes(30);

/// The handler's dependencies from the given adapters, with the real clock and ids.
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
        ids: UuidV7Ids,
    }
}

/// `POST /orders` by `user` for `items` (product, units).
pub fn order_request(user: &str, items: &[(&ProductId, u64)]) -> ApiGatewayRequest {
    let items: Vec<_> = items
        .iter()
        .map(|(product, quantity)| json!({"product_id": product, "quantity": quantity}))
        .collect();
    ApiGatewayRequest::post("/orders")
        .user(user)
        .json(&json!({ "items": items }))
}

pub async fn send<S, K, T, P, C, I>(
    deps: &Deps<S, K, T, P, C, I>,
    request: &ApiGatewayRequest,
) -> Response<Body>
where
    S: ProductStore + OrderStore,
    K: IdempotencyStore,
    T: TimeoutScheduler,
    P: EventPublisher,
    C: Clock,
    I: IdSource,
{
    match handle(deps, request.build()).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The order id of a 201 response.
pub fn order_id(response: &Response<Body>) -> OrderId {
    let body = orderflow_http::testing::json_body(response);
    serde_json::from_value(body["order_id"].clone())
        .unwrap_or_else(|err| panic!("no order id ({err}): {body}"))
}

/// The order id of every `created` event on the stack's topic, duplicates included.
pub async fn announced(stack: &LocalStack) -> Vec<OrderId> {
    stack
        .events()
        .await
        .into_iter()
        .filter(|event| event.event_type == EventType::Created)
        .map(|event| event.order_id)
        .collect()
}
