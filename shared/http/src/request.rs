//! Reading requests: the body as JSON, pagination, the `Idempotency-Key` header, the request id.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use orderflow_domain::ports::{IdempotencyKey, PageRequest};
use orderflow_types::UserId;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest body accepted. An order of 50 lines is about 3 KiB; anything near this limit is not
/// a request this API takes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The header that makes a POST safe to retry.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// The body, parsed as `T`. The body types reject unknown fields, so a misspelt field is an
/// error rather than silently ignored.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    // Text, or binary when API Gateway base64-encoded it: the bytes either way.
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::BodyTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedBody("the body is empty".into()));
    }
    serde_json::from_slice(bytes).map_err(|err| ApiError::MalformedBody(err.to_string()))
}

/// Which page of a listing: `?limit=` (1 to 100, default 20) and `?cursor=`.
pub fn page_request(request: &Request) -> Result<PageRequest, ApiError> {
    let query = request.query_string_parameters_ref();
    let first = |name: &str| query.and_then(|query| query.first(name));
    Ok(PageRequest::parse(first("limit"), first("cursor"))?)
}

/// The caller's `Idempotency-Key`, if the request has one.
pub fn idempotency_key(
    request: &Request,
    user: &UserId,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| {
        ApiError::InvalidRequest("Idempotency-Key must be visible ASCII characters".into())
    })?;
    Ok(Some(IdempotencyKey::new(user, key)?))
}

/// The request's id, for logs: API Gateway's, which its access logs carry too, or else the
/// Lambda invocation's.
pub fn request_id(request: &Request) -> String {
    let gateway = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    };
    gateway
        .or_else(|| {
            request
                .lambda_context_ref()
                .map(|context| context.request_id.clone())
        })
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "-".into())
}
