//! What the API functions share, so that each function's handler is only its own logic:
//!
//! - [`error`]: the one mapping from domain errors to HTTP statuses and JSON error bodies;
//! - [`identity`]: the caller, from API Gateway's JWT authorizer claims;
//! - [`request`], [`response`]: JSON bodies, pagination, the `Idempotency-Key` header;
//! - [`idempotency`]: running a POST under its `Idempotency-Key`;
//! - [`routes`]: the API's routes, which `openapi.yaml` documents (a test holds them together);
//! - [`context`]: what a handler works with: the use cases on their ports, idempotency, identity.
//!
//! The crate depends on the domain only; the functions' wiring onto AWS is
//! `orderflow_adapters::api`.
//!
//! With the `testing` feature, [`testing`] builds API Gateway requests and compares what the
//! handlers answer with the OpenAPI document.

pub mod context;
pub mod error;
pub mod idempotency;
pub mod identity;
pub mod request;
pub mod response;
pub mod routes;
#[cfg(feature = "testing")]
pub mod testing;

use std::future::Future;

use lambda_http::{Body, Request, Response};
use orderflow_types::OrderId;
use tracing::{Instrument, Span, field, info, info_span};

pub use context::ApiContext;
pub use error::ApiError;

/// Answers `request` with `handler` inside a span that carries the request id (and the order id,
/// once [`record_order_id`] sets it), so that every log line of the request has them. A failure
/// becomes its error response here: a Lambda error would reach the client as an opaque 502.
pub async fn serve<F, Fut>(request: Request, handler: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let span = info_span!(
        "http_request",
        request_id = %request::request_id(&request),
        method = %request.method(),
        path = %request.uri().path(),
        order_id = field::Empty,
    );
    async move {
        let response = handler(request).await.unwrap_or_else(ApiError::respond);
        info!(status = response.status().as_u16(), "answered");
        response
    }
    .instrument(span)
    .await
}

/// Adds the order id to the current request's span.
pub fn record_order_id(id: &OrderId) {
    Span::current().record("order_id", field::display(id));
}
