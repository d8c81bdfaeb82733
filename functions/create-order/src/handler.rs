use std::convert::Infallible;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use orderflow_domain::ports::{ApiPorts, Clock, IdSource};
use orderflow_domain::storefront::NewOrder;
use orderflow_http::idempotency::{Attempt, Fingerprint};
use orderflow_http::request::{idempotency_key, json_body};
use orderflow_http::response::json_response;
use orderflow_http::routes::{Operation, route};
use orderflow_http::{ApiContext, ApiError, record_order_id, serve};
use orderflow_types::api::CreateOrderRequest;

/// `POST /orders`. Every outcome is a response; the function itself never fails.
pub async fn handle<P: ApiPorts>(
    api: &ApiContext<P>,
    request: Request,
) -> Result<Response<Body>, Infallible> {
    let create_order = async |request: Request| -> Result<Response<Body>, ApiError> {
        route(&request, &[Operation::CreateOrder])?;
        let caller = api.identity.caller(&request)?;
        let body: CreateOrderRequest = json_body(&request)?;
        let items = body.validate().map_err(ApiError::InvalidFields)?;
        let key = idempotency_key(&request, &caller.user_id)?;
        // The validated lines, so that the same order sent with other spacing is the same request.
        let lines: Vec<String> = items
            .iter()
            .map(|(id, units)| format!("{id}:{units}"))
            .collect();
        let fingerprint = Fingerprint::of(Operation::CreateOrder, &lines.join(","));
        let now = api.storefront.clock.now();
        let fresh = Attempt {
            order_id: api.ids.order_id(),
            accepted_at: now,
        };
        let response = api
            .idempotency
            .run(key, fingerprint, fresh, now, |attempt| async move {
                record_order_id(&attempt.order_id);
                let new = NewOrder {
                    order_id: attempt.order_id,
                    user_id: caller.user_id,
                    items,
                    accepted_at: attempt.accepted_at,
                };
                let order = api.storefront.place(&new).await?;
                json_response(StatusCode::CREATED, &order)
            })
            .await;
        Ok(response)
    };
    Ok(serve(request, create_order).await)
}
