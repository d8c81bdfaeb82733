//! What the tests of both API functions share: an [`ApiContext`] on the local services, in
//! memory, or with faults on cue; the requests they send; orders placed to act on.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use lambda_http::http::header::RETRY_AFTER;
use lambda_http::{Body, Response};
use orderflow_adapters::AWS_OPERATION_TIMEOUT;
use orderflow_adapters::api::AwsApi;
use orderflow_adapters::dynamodb::{DynamoIdempotencyStore, DynamoStore};
use orderflow_adapters::scheduler::EventBridgeScheduler;
use orderflow_adapters::system::{SystemClock, UuidV7Ids};
use orderflow_domain::Dependency;
use orderflow_domain::ports::{ApiPorts, ApiWith, Clock};
use orderflow_domain::storefront::{NewOrder, Storefront};
use orderflow_domain::testing::faults::{Faulty, When};
use orderflow_domain::testing::{
    FakeApi, FixedClock, InMemoryIdempotencyStore, InMemoryScheduler, InMemoryStore, SequentialIds,
};
use orderflow_http::ApiContext;
use orderflow_http::error::code;
use orderflow_http::idempotency::{Idempotency, LEASE};
use orderflow_http::identity::IdentityConfig;
use orderflow_http::testing::{ApiGatewayRequest, json_body, outcome};
use orderflow_types::{Order, OrderId, ProductId, Quantity, Timestamp, UserId};
use serde_json::json;

use crate::proxy::FaultProxy;
use crate::services::LocalServices;
use crate::stall::StalledEndpoint;

pub const PAYMENT_TIMEOUT: TimeDelta = TimeDelta::minutes(30);

/// A context on the given ports, with the real clock and ids.
pub fn context<S, K, T>(
    store: S,
    idempotency: K,
    scheduler: T,
) -> ApiContext<ApiWith<S, K, T, SystemClock, UuidV7Ids>>
where
    ApiWith<S, K, T, SystemClock, UuidV7Ids>:
        ApiPorts<Store = S, Idempotency = K, Scheduler = T, Clock = SystemClock, Ids = UuidV7Ids>,
{
    context_with_clock(store, idempotency, scheduler, SystemClock)
}

/// A context on the given ports and clock, with the real ids.
pub fn context_with_clock<S, K, T, C>(
    store: S,
    idempotency: K,
    scheduler: T,
    clock: C,
) -> ApiContext<ApiWith<S, K, T, C, UuidV7Ids>>
where
    ApiWith<S, K, T, C, UuidV7Ids>:
        ApiPorts<Store = S, Idempotency = K, Scheduler = T, Clock = C, Ids = UuidV7Ids>,
{
    ApiContext {
        storefront: Storefront {
            store,
            scheduler,
            clock,
            payment_timeout: PAYMENT_TIMEOUT,
            catalogue: Default::default(),
        },
        idempotency: Idempotency {
            store: idempotency,
            ttl: TimeDelta::hours(24),
        },
        identity: IdentityConfig::default(),
        ids: UuidV7Ids,
    }
}

/// The real adapters on `services`, as the deployed functions have them.
pub fn healthy(services: &LocalServices) -> ApiContext<AwsApi> {
    context(
        services.store(),
        services.idempotency_store(),
        services.scheduler(),
    )
}

/// The real adapters on `services`, with every DynamoDB call going through `proxy`.
pub async fn dynamodb_behind(services: &LocalServices, proxy: &FaultProxy) -> ApiContext<AwsApi> {
    context(
        services.proxied_store(proxy).await,
        services.proxied_idempotency_store(proxy).await,
        services.scheduler(),
    )
}

/// Every port in memory, the clock standing at `now`.
pub fn in_memory(now: Timestamp) -> ApiContext<FakeApi> {
    ApiContext {
        storefront: Storefront {
            store: InMemoryStore::default(),
            scheduler: InMemoryScheduler::default(),
            clock: FixedClock::at(now),
            payment_timeout: PAYMENT_TIMEOUT,
            catalogue: Default::default(),
        },
        idempotency: Idempotency {
            store: InMemoryIdempotencyStore::default(),
            ttl: TimeDelta::hours(24),
        },
        identity: IdentityConfig::default(),
        ids: SequentialIds::default(),
    }
}

/// The real adapters on the local services, each wrapped to fail on cue, and a clock a test
/// moves.
pub type FaultyApi = ApiWith<
    Faulty<DynamoStore>,
    Faulty<DynamoIdempotencyStore>,
    Faulty<EventBridgeScheduler>,
    FixedClock,
    UuidV7Ids,
>;

/// [`FaultyApi`] on `services`, the clock standing at the current time.
pub fn faulty(services: &LocalServices) -> ApiContext<FaultyApi> {
    context_with_clock(
        Faulty::new(services.store(), Dependency::DynamoDb),
        Faulty::new(services.idempotency_store(), Dependency::DynamoDb),
        Faulty::new(services.scheduler(), Dependency::Scheduler),
        FixedClock::at(SystemClock.now()),
    )
}

/// Which adapter of a [`FaultyApi`] a fault is injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Store,
    Idempotency,
    Scheduler,
}

impl Target {
    /// Makes the next call of `operation` on this adapter fail, `when` says how.
    pub fn arm(self, api: &ApiContext<FaultyApi>, operation: &'static str, when: When) {
        match self {
            Self::Store => api.storefront.store.fail_next(operation, when),
            Self::Idempotency => api.idempotency.store.fail_next(operation, when),
            Self::Scheduler => api.storefront.scheduler.fail_next(operation, when),
        }
    }

    /// The injected failures this adapter reported so far, in order.
    pub fn fired(self, api: &ApiContext<FaultyApi>) -> Vec<&'static str> {
        match self {
            Self::Store => api.storefront.store.fired(),
            Self::Idempotency => api.idempotency.store.fired(),
            Self::Scheduler => api.storefront.scheduler.fired(),
        }
    }
}

/// Every injected failure so far, adapter by adapter.
pub fn fired(api: &ApiContext<FaultyApi>) -> Vec<&'static str> {
    [Target::Store, Target::Idempotency, Target::Scheduler]
        .into_iter()
        .flat_map(|target| target.fired(api))
        .collect()
}

/// A handler's answer: the API handlers never fail, every outcome is a response.
pub fn answered(result: Result<Response<Body>, Infallible>) -> Response<Body> {
    match result {
        Ok(response) => response,
        Err(never) => match never {},
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

/// `POST /orders/{id}/pay` by `user`.
pub fn pay(user: &str, order: &OrderId) -> ApiGatewayRequest {
    ApiGatewayRequest::post(format!("/orders/{order}/pay")).user(user)
}

/// `POST /orders/{id}/cancel` by `user`.
pub fn cancel(user: &str, order: &OrderId) -> ApiGatewayRequest {
    ApiGatewayRequest::post(format!("/orders/{order}/cancel")).user(user)
}

/// The response's body as an order.
pub fn order(response: &Response<Body>) -> Order {
    let body = json_body(response);
    serde_json::from_value(body.clone())
        .unwrap_or_else(|err| panic!("not an order ({err}): {body}"))
}

/// The order id of a response whose body is an order.
pub fn order_id(response: &Response<Body>) -> OrderId {
    order(response).order_id
}

/// Places orders the way create-order does, to have something to pay and cancel.
pub struct Placer {
    storefront: Storefront<AwsApi>,
}

impl Placer {
    pub fn new(services: &LocalServices) -> Self {
        Self {
            storefront: Storefront {
                store: services.store(),
                scheduler: services.scheduler(),
                clock: SystemClock,
                payment_timeout: PAYMENT_TIMEOUT,
                catalogue: Default::default(),
            },
        }
    }

    pub async fn place(&self, user: &str, items: &[(&ProductId, u32)]) -> Order {
        let new = NewOrder {
            order_id: OrderId::generate(),
            user_id: UserId::parse(user).expect("valid user id"),
            items: items
                .iter()
                .map(|&(product, units)| {
                    let units = Quantity::new(u64::from(units)).expect("valid quantity");
                    (product.clone(), units)
                })
                .collect(),
            accepted_at: self.storefront.clock.now(),
        };
        self.storefront
            .place(&new)
            .await
            .unwrap_or_else(|err| panic!("placing an order for {user}: {err}"))
    }
}

/// Sends with `send` until the key is free: a key whose holder could not release it is free once
/// its lease runs out, which the context's clock skips ahead to.
pub async fn retry<P: ApiPorts<Clock = FixedClock>>(
    api: &ApiContext<P>,
    send: impl AsyncFn() -> Response<Body>,
) -> Response<Body> {
    let response = send().await;
    if outcome(&response) != (409, Some(code::IDEMPOTENCY_KEY_IN_USE.into())) {
        return response;
    }
    api.storefront.clock.advance(LEASE);
    send().await
}

/// How long an answer to a request whose dependency stalls may take: the SDK's operation timeout
/// plus room for a busy test machine, far inside API Gateway's 29 s.
pub const STALLED_ANSWER_WITHIN: Duration =
    AWS_OPERATION_TIMEOUT.saturating_add(Duration::from_secs(4));

/// Sends with `send` the way a client honouring `Retry-After` does, until the answer is not a
/// 503, for at most 30 s: the answer, and how many 503s came first.
pub async fn until_served<F, Fut>(mut send: F) -> (Response<Body>, usize)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Response<Body>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut unavailable = 0;
    loop {
        let response = crate::local::within(STALLED_ANSWER_WITHIN, "a retry", send()).await;
        if response.status() != 503 || Instant::now() >= deadline {
            return (response, unavailable);
        }
        assert!(response.headers().contains_key(RETRY_AFTER));
        unavailable += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Sends with `send` while a dependency stalls at `stall`, and checks the answer: 503 with
/// `Retry-After` within [`STALLED_ANSWER_WITHIN`], and the stalled peer reached.
pub async fn assert_stall_answered(
    stall: &StalledEndpoint,
    send: impl AsyncFnOnce() -> Response<Body>,
) {
    let started = Instant::now();
    let first = send().await;
    let took = started.elapsed();
    assert_eq!(first.status(), 503, "{}", json_body(&first));
    assert!(first.headers().contains_key(RETRY_AFTER));
    assert!(took < STALLED_ANSWER_WITHIN, "answered after {took:?}");
    crate::figures::report(
        "a stalled dependency",
        format!(
            "503 with Retry-After after {took:.1?}, {} connection(s) to the stalled peer",
            stall.connections()
        ),
    );
    assert!(stall.connections() > 0, "the call reached the stalled peer");
}
