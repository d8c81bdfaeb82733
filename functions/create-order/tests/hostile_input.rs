//! Hostile bodies for `POST /orders`: arbitrary bytes, arbitrary JSON, order-shaped JSON with
//! values of every kind, deep nesting, huge numbers. Every answer is a clear one (never a 5xx,
//! every refusal with a code and a message), and only a valid order reserves stock. Domain and
//! HTTP layers only, on the in-memory fakes: what is under test is parsing and validation.

mod common;

use orderflow_domain::ports::ProductStore;
use orderflow_domain::testing::FakeApi;
use orderflow_domain::testing::hostile::{any_json, block_on};
use orderflow_http::ApiContext;
use orderflow_http::testing::{ApiGatewayRequest, assert_clear_answer};
use orderflow_types::{Product, ProductId, time};
use proptest::prelude::*;
use serde_json::{Value, json};

const STOCK: u64 = 1_000_000;
/// The products on sale, so that some generated orders are valid.
const PRODUCTS: &[&str] = &["p-1", "p-2"];

/// Every port in memory, with the products on sale.
async fn in_memory_with_products() -> ApiContext<FakeApi> {
    let api = common::in_memory(time::parse("2026-11-25T21:00:00Z").expect("time"));
    for &id in PRODUCTS {
        let product = Product {
            product_id: ProductId::parse(id).expect("product id"),
            name: id.into(),
            price_cents: 100,
            stock: STOCK,
        };
        api.storefront
            .store
            .put_product(&product)
            .await
            .expect("product");
    }
    api
}

/// Sends `body` as a new order and checks the answer; stock moves only with a 201.
fn assert_handled(body: String) {
    block_on(async {
        let api = in_memory_with_products().await;
        let request = ApiGatewayRequest::post("/orders")
            .user("u-1")
            .body(body.clone());
        let response = common::send(&api, &request).await;
        let shown: String = body.chars().take(200).collect();
        assert_clear_answer(&response, &shown);
        let mut held = 0;
        for &id in PRODUCTS {
            let product = ProductId::parse(id).expect("product id");
            let stock = api
                .storefront
                .store
                .get_product(&product)
                .await
                .expect("get");
            held += STOCK - stock.expect("exists").stock;
        }
        if response.status() != 201 {
            assert_eq!(held, 0, "{} for {shown} moved stock", response.status());
            assert!(
                api.storefront.scheduler.pending().is_empty(),
                "{} for {shown} left a payment timeout",
                response.status()
            );
        }
    });
}

/// `{"items":[{"product_id","quantity"}…]}` with any values, missing or extra fields.
fn order_shaped() -> impl Strategy<Value = Value> {
    let quantity = prop_oneof![
        any::<i64>().prop_map(Value::from),
        Just(json!(1000)),
        Just(json!(1001)),
        Just(json!(0)),
        Just(json!(1.5)),
        Just(json!(18_446_744_073_709_551_615_u64)),
        any_json(PRODUCTS),
    ];
    let product = prop_oneof![
        prop::sample::select(vec!["p-1", "p-2", "p-3"]).prop_map(Value::from),
        any_json(PRODUCTS),
    ];
    let line = (
        prop::option::of(product),
        prop::option::of(quantity),
        any::<bool>(),
    )
        .prop_map(|(product, quantity, extra)| {
            let mut line = serde_json::Map::new();
            if let Some(product) = product {
                line.insert("product_id".into(), product);
            }
            if let Some(quantity) = quantity {
                line.insert("quantity".into(), quantity);
            }
            if extra {
                line.insert("price_cents".into(), json!(0));
            }
            Value::Object(line)
        });
    prop::collection::vec(line, 0..60).prop_map(|items| json!({ "items": items }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_get_a_clear_answer(body in ".{0,600}") {
        assert_handled(body);
    }

    #[test]
    fn arbitrary_json_gets_a_clear_answer(body in any_json(PRODUCTS)) {
        assert_handled(body.to_string());
    }

    #[test]
    fn order_shaped_json_gets_a_clear_answer(body in order_shaped()) {
        assert_handled(body.to_string());
    }
}

#[test]
fn deep_nesting_huge_numbers_and_oversized_bodies_get_a_clear_answer() {
    let quantity = |q: &str| format!(r#"{{"items":[{{"product_id":"p-1","quantity":{q}}}]}}"#);
    let cases = [
        format!("{}{}", "[".repeat(8_000), "]".repeat(8_000)),
        format!(r#"{{"items":{}{}}}"#, "[".repeat(5_000), "]".repeat(5_000)),
        quantity(&format!("1{}", "0".repeat(400))),
        quantity("1e400"),
        quantity("-0"),
        quantity("1000000000000000000000"),
        format!(
            r#"{{"items":[{{"product_id":"{}","quantity":1}}]}}"#,
            "p".repeat(15_000)
        ),
        "x".repeat(1_000_000),
        "\u{feff}{}".into(),
        "\u{0000}".into(),
    ];
    for body in cases {
        assert_handled(body);
    }
}
