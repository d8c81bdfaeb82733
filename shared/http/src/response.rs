//! JSON responses.

use lambda_http::http::StatusCode;
use lambda_http::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::error::ApiError;

/// Set on a response that repeats the stored answer to an earlier request with the same
/// `Idempotency-Key`.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

const JSON: &str = "application/json";

/// `value` as a JSON response with `status`.
pub fn json_response<T: Serialize>(
    status: StatusCode,
    value: &T,
) -> Result<Response<Body>, ApiError> {
    let body = serde_json::to_string(value).map_err(ApiError::Encoding)?;
    Ok(raw_json_response(status, body))
}

/// A response from JSON text that is already encoded.
pub fn raw_json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// The body of a response built here, as text. Every response here is JSON text.
pub fn body_text(response: &Response<Body>) -> &str {
    std::str::from_utf8(response.body().as_ref()).unwrap_or_default()
}
