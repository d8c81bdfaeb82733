//! The one mapping from failures to HTTP: each becomes a status, a stable machine-readable `code`
//! and a message, as an [`ErrorBody`]. 5xx bodies are generic; what went wrong goes to the log.

use lambda_http::http::header::{ALLOW, HeaderValue, RETRY_AFTER};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Response};
use orderflow_domain::error::cause_chain;
use orderflow_domain::{Error, Resource};
use orderflow_types::api::{ErrorBody, FieldError};
use serde_json::json;
use tracing::{error, info, warn};

use crate::response::json_response;

/// The `code` of every error body. Clients branch on these; they never change meaning.
pub mod code {
    pub const MALFORMED_BODY: &str = "malformed_body";
    pub const BODY_TOO_LARGE: &str = "body_too_large";
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    pub const FORBIDDEN: &str = "forbidden";
    pub const ROUTE_NOT_FOUND: &str = "route_not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const ORDER_NOT_FOUND: &str = "order_not_found";
    pub const PRODUCT_NOT_FOUND: &str = "product_not_found";
    pub const OUT_OF_STOCK: &str = "out_of_stock";
    pub const ORDER_STATUS_CONFLICT: &str = "order_status_conflict";
    pub const UNKNOWN_PRODUCTS: &str = "unknown_products";
    pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
    pub const IDEMPOTENCY_KEY_IN_USE: &str = "idempotency_key_in_use";
    pub const SERVICE_UNAVAILABLE: &str = "service_unavailable";
    pub const INTERNAL_ERROR: &str = "internal_error";
}

/// How long a client should wait before retrying a 503 or a key in use, in seconds.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// Why a request gets no success response.
#[derive(Debug)]
pub enum ApiError {
    /// The body is not the JSON object the route takes (syntax, types, unknown fields).
    MalformedBody(String),
    BodyTooLarge {
        limit: usize,
    },
    /// Body fields that failed validation, each named by its path.
    InvalidFields(Vec<FieldError>),
    /// A path or query parameter, or a header, is invalid.
    InvalidRequest(String),
    /// No identity came with the request.
    Unauthenticated,
    /// The caller may not do this.
    Forbidden,
    RouteNotFound,
    MethodNotAllowed {
        allowed: Vec<Method>,
    },
    /// The `Idempotency-Key` was first used for a different request.
    IdempotencyKeyReused,
    /// A request with the same `Idempotency-Key` is running now.
    IdempotencyKeyInUse,
    /// What the domain reports; [`ApiError::parts`] maps each variant.
    Domain(Error),
    /// A response body could not be encoded: a defect.
    Encoding(serde_json::Error),
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self::Domain(error)
    }
}

impl From<orderflow_types::InvalidId> for ApiError {
    fn from(error: orderflow_types::InvalidId) -> Self {
        Self::InvalidRequest(error.to_string())
    }
}

const INTERNAL_MESSAGE: &str = "the request failed because of an internal error";
const UNAVAILABLE_MESSAGE: &str = "a service the API depends on is unavailable; retry shortly";

impl ApiError {
    /// Status, code, message and details: the one place that decides them.
    pub fn parts(&self) -> (StatusCode, &'static str, String, Option<serde_json::Value>) {
        match self {
            Self::MalformedBody(message) => (
                StatusCode::BAD_REQUEST,
                code::MALFORMED_BODY,
                format!("the body is not a valid request: {message}"),
                None,
            ),
            Self::BodyTooLarge { limit } => (
                StatusCode::BAD_REQUEST,
                code::BODY_TOO_LARGE,
                format!("the body is larger than {limit} bytes"),
                None,
            ),
            Self::InvalidFields(errors) => (
                StatusCode::BAD_REQUEST,
                code::INVALID_REQUEST,
                errors
                    .iter()
                    .map(FieldError::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                Some(json!({ "errors": errors })),
            ),
            Self::InvalidRequest(message) | Self::Domain(Error::Validation(message)) => (
                StatusCode::BAD_REQUEST,
                code::INVALID_REQUEST,
                message.clone(),
                None,
            ),
            Self::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                code::UNAUTHENTICATED,
                "the request carries no valid identity".into(),
                None,
            ),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                code::FORBIDDEN,
                "only administrators may do this".into(),
                None,
            ),
            Self::RouteNotFound => (
                StatusCode::NOT_FOUND,
                code::ROUTE_NOT_FOUND,
                "no such route".into(),
                None,
            ),
            Self::MethodNotAllowed { allowed } => (
                StatusCode::METHOD_NOT_ALLOWED,
                code::METHOD_NOT_ALLOWED,
                format!("this route takes {}", method_list(allowed)),
                None,
            ),
            Self::IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                code::IDEMPOTENCY_KEY_REUSED,
                "this Idempotency-Key was used for a different request; use a new key".into(),
                None,
            ),
            Self::IdempotencyKeyInUse => (
                StatusCode::CONFLICT,
                code::IDEMPOTENCY_KEY_IN_USE,
                "a request with this Idempotency-Key is in progress; retry shortly".into(),
                None,
            ),
            Self::Domain(Error::NotFound { resource, id }) => (
                StatusCode::NOT_FOUND,
                match resource {
                    Resource::Order => code::ORDER_NOT_FOUND,
                    Resource::Product => code::PRODUCT_NOT_FOUND,
                },
                format!("{resource} {id} not found"),
                None,
            ),
            Self::Domain(Error::WrongStatus { current }) => (
                StatusCode::CONFLICT,
                code::ORDER_STATUS_CONFLICT,
                format!("the order is {current}"),
                Some(json!({ "status": current })),
            ),
            Self::Domain(error @ Error::OutOfStock(shortages)) => (
                StatusCode::CONFLICT,
                code::OUT_OF_STOCK,
                error.to_string(),
                Some(json!({ "shortages": shortages })),
            ),
            Self::Domain(error @ Error::UnknownProducts(ids)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                code::UNKNOWN_PRODUCTS,
                error.to_string(),
                Some(json!({ "product_ids": ids })),
            ),
            // Placing prices an order again when prices change under it; should they keep
            // changing, a later retry succeeds.
            Self::Domain(Error::Unavailable { .. } | Error::PriceChanged(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                code::SERVICE_UNAVAILABLE,
                UNAVAILABLE_MESSAGE.into(),
                None,
            ),
            // Order ids are generated, so a taken one is a defect, as are refused calls and
            // undecodable data: nothing the client can act on.
            Self::Domain(
                Error::AlreadyExists { .. } | Error::Rejected { .. } | Error::InvalidData { .. },
            )
            | Self::Encoding(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL_ERROR,
                INTERNAL_MESSAGE.into(),
                None,
            ),
        }
    }

    /// Logs the failure (5xx with its whole cause chain, at error level) and answers it.
    pub fn respond(self) -> Response<Body> {
        let (status, code, message, details) = self.parts();
        if status.is_server_error() {
            // Only domain and encoding failures are 5xx; their cause chain is the diagnosis.
            let cause = match &self {
                Self::Domain(err) => cause_chain(err),
                Self::Encoding(err) => cause_chain(err),
                other => format!("{other:?}"),
            };
            error!(status = status.as_u16(), code, error = %cause, "request failed");
        } else if matches!(self, Self::IdempotencyKeyInUse | Self::IdempotencyKeyReused) {
            warn!(status = status.as_u16(), code, "request refused");
        } else {
            info!(status = status.as_u16(), code, %message, "request refused");
        }
        let body = ErrorBody {
            code: code.into(),
            message,
            details,
        };
        let mut response = match json_response(status, &body) {
            Ok(response) => response,
            // ErrorBody is strings and JSON values: encoding it cannot fail. Should it anyway,
            // the client still gets the status and the code.
            Err(_) => {
                let mut response = Response::new(Body::Text(format!(r#"{{"code":"{code}"}}"#)));
                *response.status_mut() = status;
                response
            }
        };
        match self {
            Self::Domain(Error::Unavailable { .. } | Error::PriceChanged(_))
            | Self::IdempotencyKeyInUse => {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            Self::MethodNotAllowed { allowed } => {
                if let Ok(value) = HeaderValue::from_str(&method_list(&allowed)) {
                    response.headers_mut().insert(ALLOW, value);
                }
            }
            _ => {}
        }
        response
    }
}

fn method_list(methods: &[Method]) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use orderflow_domain::Dependency;
    use orderflow_domain::error::Shortage;
    use orderflow_types::{OrderStatus, ProductId};

    use super::*;

    fn body(response: &Response<Body>) -> ErrorBody {
        serde_json::from_str(crate::response::body_text(response)).unwrap()
    }

    #[test]
    fn domain_errors_map_to_their_status_and_code() {
        let product = ProductId::parse("sku-1").unwrap();
        let cases: Vec<(Error, u16, &str)> = vec![
            (
                Error::Validation("limit".into()),
                400,
                code::INVALID_REQUEST,
            ),
            (
                Error::NotFound {
                    resource: Resource::Order,
                    id: "o".into(),
                },
                404,
                code::ORDER_NOT_FOUND,
            ),
            (
                Error::NotFound {
                    resource: Resource::Product,
                    id: "p".into(),
                },
                404,
                code::PRODUCT_NOT_FOUND,
            ),
            (
                Error::WrongStatus {
                    current: OrderStatus::Cancelled,
                },
                409,
                code::ORDER_STATUS_CONFLICT,
            ),
            (
                Error::OutOfStock(vec![Shortage {
                    product_id: product.clone(),
                    requested: 2,
                    available: 1,
                }]),
                409,
                code::OUT_OF_STOCK,
            ),
            (
                Error::UnknownProducts(vec![product]),
                422,
                code::UNKNOWN_PRODUCTS,
            ),
            (
                Error::AlreadyExists {
                    resource: Resource::Order,
                    id: "o".into(),
                },
                500,
                code::INTERNAL_ERROR,
            ),
        ];
        for (error, status, expected) in cases {
            let response = ApiError::from(error).respond();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(body(&response).code, expected);
        }
    }

    #[test]
    fn stock_errors_carry_what_was_short_and_what_was_unknown() {
        let response = ApiError::from(Error::OutOfStock(vec![Shortage {
            product_id: ProductId::parse("sku-1").unwrap(),
            requested: 3,
            available: 1,
        }]))
        .respond();
        assert_eq!(
            body(&response).details,
            Some(json!({"shortages": [{"product_id": "sku-1", "requested": 3, "available": 1}]}))
        );
        let response =
            ApiError::from(Error::UnknownProducts(vec![ProductId::parse("x").unwrap()])).respond();
        let error = body(&response);
        assert_eq!(error.details, Some(json!({"product_ids": ["x"]})));
        assert_eq!(error.message, "unknown products: x");
    }

    #[test]
    fn server_errors_say_nothing_about_their_cause() {
        let secret = "table orderflow-prod-orders in account 123456789012";
        for (error, status, expected) in [
            (
                Error::Unavailable {
                    dependency: Dependency::DynamoDb,
                    action: "get an order",
                    source: secret.into(),
                },
                503,
                code::SERVICE_UNAVAILABLE,
            ),
            (
                Error::PriceChanged(vec![orderflow_types::Product {
                    product_id: ProductId::parse("secret-product").unwrap(),
                    name: secret.into(),
                    price_cents: 1,
                    stock: 1,
                }]),
                503,
                code::SERVICE_UNAVAILABLE,
            ),
            (
                Error::Rejected {
                    dependency: Dependency::Scheduler,
                    action: "create a schedule",
                    source: secret.into(),
                },
                500,
                code::INTERNAL_ERROR,
            ),
            (
                Error::InvalidData {
                    kind: "order",
                    detail: secret.into(),
                },
                500,
                code::INTERNAL_ERROR,
            ),
        ] {
            let response = ApiError::from(error).respond();
            assert_eq!(response.status().as_u16(), status);
            let text = crate::response::body_text(&response);
            assert!(!text.contains("123456789012"), "{text}");
            assert!(!text.contains("secret-product"), "{text}");
            assert!(
                !text.contains("DynamoDB") && !text.contains("Scheduler"),
                "{text}"
            );
            assert_eq!(body(&response).code, expected);
            assert_eq!(
                response.headers().contains_key(RETRY_AFTER),
                status == 503,
                "only a 503 says when to retry"
            );
        }
    }

    #[test]
    fn field_errors_are_listed_by_path() {
        let response = ApiError::InvalidFields(vec![
            FieldError {
                field: "items[0].quantity".into(),
                message: "must be an integer from 1 to 1000".into(),
            },
            FieldError {
                field: "items[1].product_id".into(),
                message: "must not be empty".into(),
            },
        ])
        .respond();
        let error = body(&response);
        assert_eq!(
            (response.status().as_u16(), error.code.as_str()),
            (400, code::INVALID_REQUEST)
        );
        assert_eq!(
            error.message,
            "items[0].quantity: must be an integer from 1 to 1000; items[1].product_id: must not be empty"
        );
        let fields: Vec<_> = error.details.unwrap()["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(fields, ["items[0].quantity", "items[1].product_id"]);
    }

    #[test]
    fn a_wrong_method_names_the_allowed_ones() {
        let response = ApiError::MethodNotAllowed {
            allowed: vec![Method::GET, Method::PUT],
        }
        .respond();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[ALLOW], "GET, PUT");
    }
}
