use std::convert::Infallible;

use aws_config::SdkConfig;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use orderflow_core::adapters::dynamodb::{DynamoIdempotencyStore, DynamoStore};
use orderflow_core::adapters::kafka::KafkaPublisher;
use orderflow_core::adapters::scheduler::EventBridgeScheduler;
use orderflow_core::adapters::system::{SystemClock, UuidV7Ids};
use orderflow_core::orders::{NewOrder, Orders};
use orderflow_core::ports::{
    Clock, EventPublisher, IdSource, IdempotencyStore, OrderStore, ProductStore, TimeoutScheduler,
};
use orderflow_http::idempotency::{Attempt, Fingerprint, Idempotency};
use orderflow_http::identity::IdentityConfig;
use orderflow_http::request::{idempotency_key, json_body};
use orderflow_http::response::json_response;
use orderflow_http::routes::{Operation, route};
use orderflow_http::settings::ApiSettings;
use orderflow_http::{ApiError, record_order_id, serve};
use orderflow_types::api::CreateOrderRequest;

/// What the handler needs, built once per cold start.
pub struct Deps<S, K, T, P, C = SystemClock, I = UuidV7Ids> {
    pub orders: Orders<S, T, P, C>,
    pub idempotency: Idempotency<K>,
    pub identity: IdentityConfig,
    pub ids: I,
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
            ids: UuidV7Ids,
        }
    }
}

/// `POST /orders`. Every outcome is a response; the function itself never fails.
pub async fn handle<S, K, T, P, C, I>(
    deps: &Deps<S, K, T, P, C, I>,
    request: Request,
) -> Result<Response<Body>, Infallible>
where
    S: ProductStore + OrderStore,
    K: IdempotencyStore,
    T: TimeoutScheduler,
    P: EventPublisher,
    C: Clock,
    I: IdSource,
{
    Ok(serve(request, |request| create_order(deps, request)).await)
}

async fn create_order<S, K, T, P, C, I>(
    deps: &Deps<S, K, T, P, C, I>,
    request: Request,
) -> Result<Response<Body>, ApiError>
where
    S: ProductStore + OrderStore,
    K: IdempotencyStore,
    T: TimeoutScheduler,
    P: EventPublisher,
    C: Clock,
    I: IdSource,
{
    route(&request, &[Operation::CreateOrder])?;
    let caller = deps.identity.caller(&request)?;
    let body: CreateOrderRequest = json_body(&request)?;
    let items = body.validate().map_err(ApiError::InvalidFields)?;
    let key = idempotency_key(&request, &caller.user_id)?;
    // The validated lines, so that the same order sent with other spacing is the same request.
    let lines: Vec<String> = items
        .iter()
        .map(|(id, units)| format!("{id}:{units}"))
        .collect();
    let fingerprint = Fingerprint::of(Operation::CreateOrder, &lines.join(","));
    let now = deps.orders.clock.now();
    let fresh = Attempt {
        order_id: deps.ids.order_id(),
        accepted_at: now,
    };
    let response = deps
        .idempotency
        .run(key, fingerprint, fresh, now, |attempt| async move {
            record_order_id(&attempt.order_id);
            let new = NewOrder {
                order_id: attempt.order_id,
                user_id: caller.user_id,
                items,
                accepted_at: attempt.accepted_at,
            };
            let order = deps.orders.place(&new).await?;
            json_response(StatusCode::CREATED, &order)
        })
        .await;
    Ok(response)
}
