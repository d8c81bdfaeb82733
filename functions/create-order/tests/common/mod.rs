//! The API functions' shared test support, and this function's handler to send requests to.

#![allow(dead_code, unused_imports)] // Each test file uses part of this.

use lambda_http::{Body, Response};
pub use orderflow_domain::ports::ApiPorts;
pub use orderflow_http::ApiContext;
use orderflow_http::testing::ApiGatewayRequest;
pub use orderflow_testing::api::*;

/// `request`, as API Gateway hands it to create-order.
pub async fn send<P: ApiPorts>(api: &ApiContext<P>, request: &ApiGatewayRequest) -> Response<Body> {
    answered(create_order::handle(api, request.build()).await)
}
