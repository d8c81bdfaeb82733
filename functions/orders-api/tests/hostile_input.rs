//! Hostile requests for every route orders-api serves: ids of any shape in every path (injection-
//! shaped, unicode, percent-encoded control characters, very long), arbitrary query strings,
//! arbitrary bodies, and identities of any shape. Every answer is a clear one: never a 5xx, every
//! refusal with a code and a message. Domain and HTTP layers only, on the in-memory fakes: what is
//! under test is routing, parsing and validation.

mod common;

use lambda_http::http::Method;
use orderflow_domain::testing::hostile::block_on;
use orderflow_http::routes::Operation;
use orderflow_http::testing::{ApiGatewayRequest, assert_clear_answer};
use orderflow_types::time;
use proptest::prelude::*;

fn assert_handled(request: ApiGatewayRequest, shown: String) {
    block_on(async {
        let response = common::send(
            &common::in_memory(time::parse("2026-11-25T21:00:00Z").expect("time")),
            &request,
        )
        .await;
        assert_clear_answer(&response, &shown);
    });
}

/// A path segment as a client could send it: URI path characters, including percent-escapes of
/// anything (NUL, newline, quotes, unicode), or a known hostile shape.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9._~!$&'()*+,;=:@-]{1,80}",
        "[a-z0-9-]{200,1200}",
        prop::collection::vec(any::<u8>(), 1..40)
            .prop_map(|bytes| bytes.iter().map(|b| format!("%{b:02X}")).collect()),
        prop::sample::select(vec![
            "%27%20OR%20%271%27%3D%271",
            "..%2F..%2Fetc%2Fpasswd",
            "%00",
            "%E2%80%AE",
            "%F0%9F%99%82",
            "%25",
            "o-1%0D%0ASet-Cookie:%20x",
        ])
        .prop_map(String::from),
    ]
}

/// A request to a route (the path's `{id}` replaced), with any query, body and caller.
fn request() -> impl Strategy<Value = (ApiGatewayRequest, String)> {
    (
        prop::sample::select(Operation::ALL.to_vec()),
        segment(),
        prop_oneof![
            "[A-Za-z0-9=&_.-]{0,60}",
            prop::sample::select(vec![
                "limit=-1",
                "limit=0",
                "limit=101",
                "limit=99999999999999999999",
                "limit=1e3",
                "limit=1&limit=2",
                "cursor=%00",
                "cursor=eyJ9",
                "cursor=%27%20OR%201%3D1",
            ])
            .prop_map(String::from),
        ],
        prop::option::of(".{0,300}"),
        prop::option::of(".{0,60}"),
        prop::option::of(".{0,40}"),
    )
        .prop_map(|(operation, id, query, body, user, key)| {
            let path = operation.path().replace("{id}", &id);
            let mut request = ApiGatewayRequest::new(operation.method(), &path).query(&query);
            if let Some(user) = &user {
                request = request.user(user);
            }
            if let Some(body) = &body {
                request = request.body(body.clone());
            }
            if let Some(key) = key.filter(|k| k.chars().all(|c| c.is_ascii_graphic())) {
                request = request.idempotency_key(&key);
            }
            let shown = format!(
                "{} {path}?{query} user={user:?} body={:?}",
                operation.method(),
                body.map(|b| b.chars().take(80).collect::<String>())
            );
            (request, shown)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_request_to_any_route_gets_a_clear_answer((request, shown) in request()) {
        assert_handled(request, shown);
    }
}

#[test]
fn other_methods_and_paths_get_a_clear_answer() {
    for (method, path) in [
        (Method::DELETE, "/orders/o-1"),
        (Method::PATCH, "/products/p-1"),
        (Method::GET, "/orders/o-1/pay"),
        (Method::POST, "/orders/o-1/refund"),
        (Method::GET, "/%2e%2e/orders"),
        (Method::GET, "/orders//pay"),
        (Method::GET, "/notifications/x"),
    ] {
        let shown = format!("{method} {path}");
        assert_handled(ApiGatewayRequest::new(method, path).user("u-1"), shown);
    }
}
