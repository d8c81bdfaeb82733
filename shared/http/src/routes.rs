//! The API's routes, in one table that the functions dispatch on and the OpenAPI test checks.

use lambda_http::http::Method;
use lambda_http::{Request, RequestExt};

use crate::error::ApiError;

/// Everything the API does. Each is one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    CreateOrder,
    ListOrders,
    GetOrder,
    PayOrder,
    CancelOrder,
    ListNotifications,
    ListProducts,
    GetProduct,
    PutProduct,
}

impl Operation {
    pub const ALL: [Operation; 9] = [
        Self::CreateOrder,
        Self::ListOrders,
        Self::GetOrder,
        Self::PayOrder,
        Self::CancelOrder,
        Self::ListNotifications,
        Self::ListProducts,
        Self::GetProduct,
        Self::PutProduct,
    ];

    pub fn method(self) -> Method {
        match self {
            Self::CreateOrder | Self::PayOrder | Self::CancelOrder => Method::POST,
            Self::PutProduct => Method::PUT,
            _ => Method::GET,
        }
    }

    /// The path template, as in the OpenAPI document and API Gateway's route keys.
    pub const fn path(self) -> &'static str {
        match self {
            Self::CreateOrder | Self::ListOrders => "/orders",
            Self::GetOrder => "/orders/{id}",
            Self::PayOrder => "/orders/{id}/pay",
            Self::CancelOrder => "/orders/{id}/cancel",
            Self::ListNotifications => "/notifications",
            Self::ListProducts => "/products",
            Self::GetProduct | Self::PutProduct => "/products/{id}",
        }
    }

    /// The `operationId` in the OpenAPI document.
    pub const fn operation_id(self) -> &'static str {
        match self {
            Self::CreateOrder => "createOrder",
            Self::ListOrders => "listOrders",
            Self::GetOrder => "getOrder",
            Self::PayOrder => "payOrder",
            Self::CancelOrder => "cancelOrder",
            Self::ListNotifications => "listNotifications",
            Self::ListProducts => "listProducts",
            Self::GetProduct => "getProduct",
            Self::PutProduct => "putProduct",
        }
    }
}

/// A request matched to an operation, with the `{id}` of its path, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub operation: Operation,
    pub id: Option<String>,
}

/// Matches `request` against the operations a function serves. A path no served operation has is
/// [`ApiError::RouteNotFound`]; a served path with another method, [`ApiError::MethodNotAllowed`].
pub fn route(request: &Request, served: &[Operation]) -> Result<Route, ApiError> {
    // The path as the client sent it, without an API Gateway stage prefix.
    let path = match request.raw_http_path() {
        "" => request.uri().path(),
        raw => raw,
    };
    let mut allowed = Vec::new();
    for &operation in served {
        let Some(id) = matches(operation.path(), path) else {
            continue;
        };
        if operation.method() == request.method() {
            return Ok(Route { operation, id });
        }
        allowed.push(operation.method());
    }
    if allowed.is_empty() {
        Err(ApiError::RouteNotFound)
    } else {
        Err(ApiError::MethodNotAllowed { allowed })
    }
}

/// `Some(id)` if `path` fits `template` (with `Some` of the `{id}` segment if it has one).
fn matches(template: &str, path: &str) -> Option<Option<String>> {
    let mut template_segments = template.split('/');
    let mut path_segments = path.split('/');
    let mut id = None;
    loop {
        match (template_segments.next(), path_segments.next()) {
            (None, None) => return Some(id),
            (Some("{id}"), Some(segment)) if !segment.is_empty() => id = Some(segment.to_owned()),
            (Some(expected), Some(segment)) if expected == segment => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::Body;
    use lambda_http::http::Request as HttpRequest;

    use super::*;

    fn request(method: Method, path: &str) -> Request {
        let mut request = HttpRequest::new(Body::Empty);
        *request.method_mut() = method;
        *request.uri_mut() = path.parse().unwrap();
        request
    }

    #[test]
    fn paths_match_their_templates_and_capture_the_id() {
        let all = Operation::ALL;
        let cases = [
            (Method::POST, "/orders", Operation::CreateOrder, None),
            (Method::GET, "/orders", Operation::ListOrders, None),
            (Method::GET, "/orders/o-1", Operation::GetOrder, Some("o-1")),
            (
                Method::POST,
                "/orders/o-1/pay",
                Operation::PayOrder,
                Some("o-1"),
            ),
            (
                Method::POST,
                "/orders/o-1/cancel",
                Operation::CancelOrder,
                Some("o-1"),
            ),
            (
                Method::GET,
                "/notifications",
                Operation::ListNotifications,
                None,
            ),
            (Method::GET, "/products", Operation::ListProducts, None),
            (
                Method::GET,
                "/products/p-1",
                Operation::GetProduct,
                Some("p-1"),
            ),
            (
                Method::PUT,
                "/products/p-1",
                Operation::PutProduct,
                Some("p-1"),
            ),
        ];
        for (method, path, operation, id) in cases {
            let matched = route(&request(method.clone(), path), &all).unwrap();
            assert_eq!(matched.operation, operation, "{method} {path}");
            assert_eq!(matched.id.as_deref(), id, "{method} {path}");
        }
    }

    #[test]
    fn unknown_paths_and_methods_are_told_apart() {
        let all = Operation::ALL;
        for path in [
            "/",
            "/order",
            "/orders/",
            "/orders/o-1/refund",
            "/orders//pay",
        ] {
            assert!(
                matches!(
                    route(&request(Method::GET, path), &all),
                    Err(ApiError::RouteNotFound)
                ),
                "{path}"
            );
        }
        match route(&request(Method::DELETE, "/products/p-1"), &all) {
            Err(ApiError::MethodNotAllowed { allowed }) => {
                assert_eq!(allowed, [Method::GET, Method::PUT])
            }
            other => panic!("expected MethodNotAllowed, got {other:?}"),
        }
    }

    #[test]
    fn a_function_answers_only_its_own_operations() {
        let create_only = [Operation::CreateOrder];
        assert!(route(&request(Method::POST, "/orders"), &create_only).is_ok());
        assert!(matches!(
            route(&request(Method::GET, "/orders/o-1"), &create_only),
            Err(ApiError::RouteNotFound)
        ));
        assert!(matches!(
            route(&request(Method::GET, "/orders"), &create_only),
            Err(ApiError::MethodNotAllowed { .. })
        ));
    }
}
