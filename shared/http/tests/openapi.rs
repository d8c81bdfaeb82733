//! The OpenAPI document against the routes the functions dispatch on. What each operation answers
//! is checked against the document by the functions' own tests, through `testing::Coverage`.

use std::collections::BTreeSet;

use orderflow_http::error::code;
use orderflow_http::routes::Operation;
use orderflow_http::testing::OpenApi;

#[test]
fn the_document_lists_exactly_the_implemented_routes() {
    let documented = OpenApi::load().operations();
    let implemented: BTreeSet<(String, String, String)> = Operation::ALL
        .iter()
        .map(|op| {
            (
                op.method().as_str().to_owned(),
                op.path().to_owned(),
                op.operation_id().to_owned(),
            )
        })
        .collect();
    assert_eq!(documented, implemented);
}

#[test]
fn every_operation_documents_authentication_and_server_failures() {
    let document = OpenApi::load();
    for operation in Operation::ALL {
        let outcomes = document.outcomes(operation);
        for expected in [
            (401, code::UNAUTHENTICATED),
            (500, code::INTERNAL_ERROR),
            (503, code::SERVICE_UNAVAILABLE),
        ] {
            assert!(
                outcomes.contains(&(expected.0, Some(expected.1.to_owned()))),
                "{} lacks {expected:?}",
                operation.operation_id()
            );
        }
        assert_eq!(
            outcomes.iter().filter(|(status, _)| *status < 300).count(),
            1,
            "{} documents one success",
            operation.operation_id()
        );
    }
}

#[test]
fn every_documented_code_is_one_the_api_can_answer() {
    let known: BTreeSet<&str> = [
        code::MALFORMED_BODY,
        code::BODY_TOO_LARGE,
        code::INVALID_REQUEST,
        code::UNAUTHENTICATED,
        code::FORBIDDEN,
        code::ORDER_NOT_FOUND,
        code::PRODUCT_NOT_FOUND,
        code::OUT_OF_STOCK,
        code::ORDER_STATUS_CONFLICT,
        code::UNKNOWN_PRODUCTS,
        code::IDEMPOTENCY_KEY_REUSED,
        code::IDEMPOTENCY_KEY_IN_USE,
        code::SERVICE_UNAVAILABLE,
        code::INTERNAL_ERROR,
    ]
    .into();
    let document = OpenApi::load();
    for operation in Operation::ALL {
        for (status, code) in document.outcomes(operation) {
            if let Some(code) = code {
                assert!(known.contains(code.as_str()), "{status} {code}");
            }
        }
    }
}
