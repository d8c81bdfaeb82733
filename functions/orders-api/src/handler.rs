use std::convert::Infallible;

use aws_config::SdkConfig;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use orderflow_core::adapters::dynamodb::{DynamoIdempotencyStore, DynamoStore};
use orderflow_core::adapters::kafka::KafkaPublisher;
use orderflow_core::adapters::scheduler::EventBridgeScheduler;
use orderflow_core::adapters::system::SystemClock;
use orderflow_core::orders::Orders;
use orderflow_core::ports::{
    Clock, EventPublisher, IdempotencyStore, NotificationStore, OrderStore, ProductStore,
    TimeoutScheduler,
};
use orderflow_http::idempotency::{Attempt, Fingerprint, Idempotency};
use orderflow_http::identity::{Caller, IdentityConfig};
use orderflow_http::request::{idempotency_key, json_body, page_request};
use orderflow_http::response::json_response;
use orderflow_http::routes::{Operation, Route, route};
use orderflow_http::settings::ApiSettings;
use orderflow_http::{ApiError, record_order_id, serve};
use orderflow_types::api::PutProductRequest;
use orderflow_types::{OrderId, ProductId};
use serde::Serialize;

/// The routes this function serves; `POST /orders` is create-order's.
const SERVED: [Operation; 8] = [
    Operation::ListOrders,
    Operation::GetOrder,
    Operation::PayOrder,
    Operation::CancelOrder,
    Operation::ListNotifications,
    Operation::ListProducts,
    Operation::GetProduct,
    Operation::PutProduct,
];

/// What the handler needs, built once per cold start.
pub struct Deps<S, K, T, P, C = SystemClock> {
    pub orders: Orders<S, T, P, C>,
    pub idempotency: Idempotency<K>,
    pub identity: IdentityConfig,
}

impl Deps<DynamoStore, DynamoIdempotencyStore, EventBridgeScheduler, KafkaPublisher> {
    pub fn new(settings: &ApiSettings, aws: &SdkConfig, publisher: KafkaPublisher) -> Self {
        let dynamodb = aws_sdk_dynamodb::Client::new(aws);
        let scheduler = aws_sdk_scheduler::Client::new(aws);
        Self {
            orders: Orders {
                store: DynamoStore::new(dynamodb.clone(), &settings.tables),
                scheduler: EventBridgeScheduler::new(scheduler, settings.scheduler.clone()),
                publisher,
                clock: SystemClock,
                payment_timeout: settings.payment_timeout,
            },
            idempotency: Idempotency {
                store: DynamoIdempotencyStore::new(dynamodb, &settings.tables),
                ttl: settings.idempotency_ttl,
            },
            identity: settings.identity.clone(),
        }
    }
}

/// Every route of [`SERVED`]. Every outcome is a response; the function itself never fails.
pub async fn handle<S, K, T, P, C>(
    deps: &Deps<S, K, T, P, C>,
    request: Request,
) -> Result<Response<Body>, Infallible>
where
    S: ProductStore + OrderStore + NotificationStore,
    K: IdempotencyStore,
    T: TimeoutScheduler,
    P: EventPublisher,
    C: Clock,
{
    Ok(serve(request, |request| dispatch(deps, request)).await)
}

async fn dispatch<S, K, T, P, C>(
    deps: &Deps<S, K, T, P, C>,
    request: Request,
) -> Result<Response<Body>, ApiError>
where
    S: ProductStore + OrderStore + NotificationStore,
    K: IdempotencyStore,
    T: TimeoutScheduler,
    P: EventPublisher,
    C: Clock,
{
    let Route { operation, id } = route(&request, &SERVED)?;
    let caller = match operation {
        Operation::PutProduct => deps.identity.admin(&request)?,
        _ => deps.identity.caller(&request)?,
    };
    let orders = &deps.orders;
    match operation {
        Operation::ListOrders => ok(&orders
            .list(&caller.user_id, &page_request(&request)?)
            .await?),
        Operation::GetOrder => {
            let id = order_id(id)?;
            ok(&orders.get(&caller.user_id, &id).await?)
        }
        Operation::PayOrder | Operation::CancelOrder => {
            change(deps, &request, operation, caller, order_id(id)?).await
        }
        Operation::ListNotifications => ok(&orders
            .notifications(&caller.user_id, &page_request(&request)?)
            .await?),
        Operation::ListProducts => ok(&orders.products(&page_request(&request)?).await?),
        Operation::GetProduct => ok(&orders.product(&product_id(id)?).await?),
        Operation::PutProduct => {
            let id = product_id(id)?;
            let body: PutProductRequest = json_body(&request)?;
            ok(&orders.put_product(&id, &body).await?)
        }
        // `route` matched one of SERVED.
        _ => Err(ApiError::RouteNotFound),
    }
}

/// Pays or cancels the caller's order, under the request's `Idempotency-Key` if it has one.
async fn change<S, K, T, P, C>(
    deps: &Deps<S, K, T, P, C>,
    request: &Request,
    operation: Operation,
    caller: Caller,
    id: OrderId,
) -> Result<Response<Body>, ApiError>
where
    S: ProductStore + OrderStore,
    K: IdempotencyStore,
    T: TimeoutScheduler,
    P: EventPublisher,
    C: Clock,
{
    let key = idempotency_key(request, &caller.user_id)?;
    let fingerprint = Fingerprint::of(operation, id.as_str());
    let now = deps.orders.clock.now();
    let fresh = Attempt {
        order_id: id,
        accepted_at: now,
    };
    let response = deps
        .idempotency
        .run(key, fingerprint, fresh, now, |attempt| async move {
            let order = if operation == Operation::PayOrder {
                deps.orders.pay(&caller.user_id, &attempt.order_id).await?
            } else {
                deps.orders
                    .cancel(&caller.user_id, &attempt.order_id)
                    .await?
            };
            ok(&order)
        })
        .await;
    Ok(response)
}

fn ok<T: Serialize>(value: &T) -> Result<Response<Body>, ApiError> {
    json_response(StatusCode::OK, value)
}

/// The `{id}` of an order route; the route matched, so it is there.
fn order_id(id: Option<String>) -> Result<OrderId, ApiError> {
    let id = OrderId::parse(id.unwrap_or_default())?;
    record_order_id(&id);
    Ok(id)
}

fn product_id(id: Option<String>) -> Result<ProductId, ApiError> {
    Ok(ProductId::parse(id.unwrap_or_default())?)
}
