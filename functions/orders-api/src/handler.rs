use std::convert::Infallible;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use orderflow_domain::ports::{ApiPorts, Clock};
use orderflow_http::idempotency::{Attempt, Fingerprint};
use orderflow_http::identity::Caller;
use orderflow_http::request::{idempotency_key, json_body, page_request};
use orderflow_http::response::json_response;
use orderflow_http::routes::{Operation, Route, route};
use orderflow_http::{ApiContext, ApiError, record_order_id, serve};
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

/// Every route of [`SERVED`]. Every outcome is a response; the function itself never fails.
pub async fn handle<P: ApiPorts>(
    api: &ApiContext<P>,
    request: Request,
) -> Result<Response<Body>, Infallible> {
    Ok(serve(request, |request| dispatch(api, request)).await)
}

async fn dispatch<P: ApiPorts>(
    api: &ApiContext<P>,
    request: Request,
) -> Result<Response<Body>, ApiError> {
    let Route { operation, id } = route(&request, &SERVED)?;
    let caller = match operation {
        Operation::PutProduct => api.identity.admin(&request)?,
        _ => api.identity.caller(&request)?,
    };
    let storefront = &api.storefront;
    match operation {
        Operation::ListOrders => json_ok(
            &storefront
                .list(&caller.user_id, &page_request(&request)?)
                .await?,
        ),
        Operation::GetOrder => {
            let id = order_id(id)?;
            json_ok(&storefront.get(&caller.user_id, &id).await?)
        }
        Operation::PayOrder | Operation::CancelOrder => {
            pay_or_cancel(api, &request, operation, caller, order_id(id)?).await
        }
        Operation::ListNotifications => json_ok(
            &storefront
                .notifications(&caller.user_id, &page_request(&request)?)
                .await?,
        ),
        Operation::ListProducts => json_ok(&storefront.products(&page_request(&request)?).await?),
        Operation::GetProduct => json_ok(&storefront.product(&product_id(id)?).await?),
        Operation::PutProduct => {
            let id = product_id(id)?;
            let body: PutProductRequest = json_body(&request)?;
            json_ok(&storefront.put_product(&id, &body).await?)
        }
        // `route` matched one of SERVED.
        _ => Err(ApiError::RouteNotFound),
    }
}

/// Pays or cancels the caller's order, under the request's `Idempotency-Key` if it has one.
async fn pay_or_cancel<P: ApiPorts>(
    api: &ApiContext<P>,
    request: &Request,
    operation: Operation,
    caller: Caller,
    id: OrderId,
) -> Result<Response<Body>, ApiError> {
    let key = idempotency_key(request, &caller.user_id)?;
    let fingerprint = Fingerprint::of(operation, id.as_str());
    let now = api.storefront.clock.now();
    let fresh = Attempt {
        order_id: id,
        accepted_at: now,
    };
    let response = api
        .idempotency
        .run(key, fingerprint, fresh, now, |attempt| async move {
            let order = if operation == Operation::PayOrder {
                api.storefront
                    .pay(&caller.user_id, &attempt.order_id)
                    .await?
            } else {
                api.storefront
                    .cancel(&caller.user_id, &attempt.order_id)
                    .await?
            };
            json_ok(&order)
        })
        .await;
    Ok(response)
}

/// A 200 with `value` as its JSON body.
fn json_ok<T: Serialize>(value: &T) -> Result<Response<Body>, ApiError> {
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
