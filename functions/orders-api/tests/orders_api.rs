//! The orders API through the handler, against moto (DynamoDB, its stream, the Scheduler). The
//! function talks to no broker: a payment's or cancellation's event is the order's change on the
//! orders table's stream, which order-stream publishes.

mod common;

use common::*;
use orderflow_domain::Dependency;
use orderflow_domain::testing::faults::{Faulty, When};
use orderflow_http::error::code;
use orderflow_http::identity::DEV_USER_HEADER;
use orderflow_http::request::MAX_BODY_BYTES;
use orderflow_http::response::IDEMPOTENT_REPLAYED;
use orderflow_http::routes::Operation;
use orderflow_http::testing::{ApiGatewayRequest, Coverage, OpenApi, json_body, outcome};
use orderflow_testing::services::LocalServices;
use orderflow_types::{CancelReason, OrderStatus, ProductId};
use serde_json::json;

fn code_of(response: &lambda_http::Response<lambda_http::Body>) -> (u16, String) {
    let (status, code) = outcome(response);
    (status, code.unwrap_or_default())
}

#[tokio::test]
async fn callers_see_only_their_own_orders_newest_first() {
    let stack = LocalServices::new(1).await;
    let mug = stack.product("mug", 1450, 10).await;
    let placer = Placer::new(&stack);
    let mut alices = Vec::new();
    for _ in 0..3 {
        alices.push(placer.place("alice", &[(&mug, 1)]).await.order_id);
    }
    let bobs = placer.place("bob", &[(&mug, 2)]).await;
    let api = healthy(&stack);

    let mut listed = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = send(
            &api,
            &ApiGatewayRequest::get("/orders")
                .user("alice")
                .query(&query),
        )
        .await;
        assert_eq!(page.status(), 200);
        let page = json_body(&page);
        assert!(page["items"].as_array().unwrap().len() <= 2);
        for item in page["items"].as_array().unwrap() {
            listed.push(item["order_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = alices.iter().rev().map(ToString::to_string).collect();
    assert_eq!(listed, newest_first);

    let own = send(
        &api,
        &ApiGatewayRequest::get(format!("/orders/{}", alices[0])).user("alice"),
    )
    .await;
    assert_eq!(own.status(), 200);
    assert_eq!(order(&own).lines[0].product_id, mug);
    let theirs = send(
        &api,
        &ApiGatewayRequest::get(format!("/orders/{}", bobs.order_id)).user("alice"),
    )
    .await;
    assert_eq!(code_of(&theirs), (404, code::ORDER_NOT_FOUND.into()));
    for attempt in [
        pay("alice", &bobs.order_id),
        cancel("alice", &bobs.order_id),
    ] {
        assert_eq!(
            code_of(&send(&api, &attempt).await),
            (404, code::ORDER_NOT_FOUND.into())
        );
    }
    assert_eq!(stack.stock(&mug).await, 5, "bob's order is untouched");
}

#[tokio::test]
async fn paying_removes_the_timeout_announces_and_is_idempotent() {
    let stack = LocalServices::new(1).await;
    let mug = stack.product("mug", 1450, 10).await;
    let placed = Placer::new(&stack).place("alice", &[(&mug, 3)]).await;
    assert!(stack.is_scheduled(&placed.order_id).await);
    let api = healthy(&stack);

    let paid = send(&api, &pay("alice", &placed.order_id)).await;
    assert_eq!(paid.status(), 200);
    let paid = order(&paid);
    assert_eq!(paid.status, OrderStatus::Paid);
    assert!(!stack.is_scheduled(&placed.order_id).await);
    assert_eq!(stack.stock(&mug).await, 7, "a paid order keeps its stock");

    let again = send(&api, &pay("alice", &placed.order_id)).await;
    assert_eq!(again.status(), 200);
    assert_eq!(order(&again), paid, "paying a paid order is a success");
    let keyed = pay("alice", &placed.order_id).idempotency_key("pay-1");
    let first = send(&api, &keyed).await;
    assert_eq!(first.status(), 200, "{}", json_body(&first));
    assert_eq!(
        order(&first),
        paid,
        "a keyed payment of a paid order is a success"
    );
    let replayed = send(&api, &keyed).await;
    assert_eq!(replayed.status(), 200);
    assert_eq!(replayed.headers()[IDEMPOTENT_REPLAYED], "true");
    assert_eq!(json_body(&replayed), json_body(&first));

    // However often it is paid, the order changed once: order-stream announces `paid` once.
    assert_eq!(
        stack.status_changes(&placed.order_id).await,
        [
            (None, Some(OrderStatus::Pending)),
            (Some(OrderStatus::Pending), Some(OrderStatus::Paid)),
        ]
    );
    let stored = stack.store();
    let stored = orderflow_domain::ports::OrderStore::get_order(&stored, &placed.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, OrderStatus::Paid);
}

#[tokio::test]
async fn cancelling_returns_the_stock_notifies_and_is_on_the_stream() {
    let stack = LocalServices::new(1).await;
    let mug = stack.product("mug", 1450, 10).await;
    let placer = Placer::new(&stack);
    let placed = placer.place("bob", &[(&mug, 4)]).await;
    assert_eq!(stack.stock(&mug).await, 6);
    let api = healthy(&stack);

    let cancelled = send(&api, &cancel("bob", &placed.order_id)).await;
    assert_eq!(cancelled.status(), 200);
    let cancelled = order(&cancelled);
    assert_eq!(
        (cancelled.status, cancelled.cancel_reason),
        (OrderStatus::Cancelled, Some(CancelReason::Customer))
    );
    assert_eq!(stack.stock(&mug).await, 10);
    assert!(!stack.is_scheduled(&placed.order_id).await);
    let again = send(&api, &cancel("bob", &placed.order_id)).await;
    assert_eq!(order(&again), cancelled);
    assert_eq!(stack.stock(&mug).await, 10, "returned once");

    let notices =
        json_body(&send(&api, &ApiGatewayRequest::get("/notifications").user("bob")).await);
    let notices = notices["items"].as_array().unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0]["kind"], "order_cancelled");
    assert_eq!(
        notices[0]["notification_id"],
        format!("{}#order_cancelled", placed.order_id)
    );

    let refused = send(&api, &pay("bob", &placed.order_id)).await;
    assert_eq!(code_of(&refused), (409, code::ORDER_STATUS_CONFLICT.into()));
    assert_eq!(json_body(&refused)["details"]["status"], "CANCELLED");

    let paid = placer.place("bob", &[(&mug, 1)]).await;
    assert_eq!(send(&api, &pay("bob", &paid.order_id)).await.status(), 200);
    let refused = send(&api, &cancel("bob", &paid.order_id)).await;
    assert_eq!(code_of(&refused), (409, code::ORDER_STATUS_CONFLICT.into()));
    assert_eq!(json_body(&refused)["details"]["status"], "PAID");
    assert_eq!(stack.stock(&mug).await, 9);

    assert_eq!(
        stack.status_changes(&placed.order_id).await,
        [
            (None, Some(OrderStatus::Pending)),
            (Some(OrderStatus::Pending), Some(OrderStatus::Cancelled)),
        ],
        "cancelled once"
    );
    assert_eq!(
        stack.status_changes(&paid.order_id).await,
        [
            (None, Some(OrderStatus::Pending)),
            (Some(OrderStatus::Pending), Some(OrderStatus::Paid)),
        ],
        "paid, never cancelled"
    );
}

#[tokio::test]
async fn products_show_their_stock_and_only_administrators_set_it() {
    let stack = LocalServices::new(1).await;
    let api = healthy(&stack);
    let body = json!({"name": "Stoneware mug", "price_cents": 1450, "stock": 40});
    let customer = ApiGatewayRequest::put("/products/sku-mug")
        .user("bob")
        .claim("cognito:groups", "[customers]")
        .json(&body);
    assert_eq!(
        code_of(&send(&api, &customer).await),
        (403, code::FORBIDDEN.into())
    );
    assert_eq!(
        code_of(
            &send(
                &api,
                &ApiGatewayRequest::get("/products/sku-mug").user("bob")
            )
            .await
        ),
        (404, code::PRODUCT_NOT_FOUND.into()),
        "the refused request stored nothing"
    );

    let admin = ApiGatewayRequest::put("/products/sku-mug")
        .user("root")
        .claim("cognito:groups", "[admin]")
        .json(&body);
    let stored = send(&api, &admin).await;
    assert_eq!(stored.status(), 200);
    assert_eq!(json_body(&stored)["stock"], 40);

    let mug = ProductId::parse("sku-mug").unwrap();
    Placer::new(&stack).place("bob", &[(&mug, 15)]).await;
    let shown = send(
        &api,
        &ApiGatewayRequest::get("/products/sku-mug").user("bob"),
    )
    .await;
    assert_eq!(
        json_body(&shown),
        json!({"product_id": "sku-mug", "name": "Stoneware mug", "price_cents": 1450, "stock": 25})
    );
    let listed = json_body(&send(&api, &ApiGatewayRequest::get("/products").user("bob")).await);
    assert_eq!(listed["items"], json!([json_body(&shown)]));
}

#[tokio::test]
async fn every_documented_answer_of_the_orders_api_is_given_as_documented() {
    let stack = LocalServices::new(1).await;
    let mug = stack.product("mug", 1450, 10).await;
    let placer = Placer::new(&stack);
    let coverage = Coverage::default();
    let api = healthy(&stack);
    let send = |operation: Operation, request: ApiGatewayRequest| {
        let (api, coverage) = (&api, &coverage);
        async move { coverage.record(operation, send(api, &request).await) }
    };
    let pending = placer.place("erin", &[(&mug, 1)]).await.order_id;
    let to_pay = placer.place("erin", &[(&mug, 1)]).await.order_id;
    let to_cancel = placer.place("erin", &[(&mug, 1)]).await.order_id;
    let admin =
        |request: ApiGatewayRequest| request.user("root").claim("cognito:groups", "[admin]");

    // Successes.
    let order_path = format!("/orders/{pending}");
    for (operation, request) in [
        (
            Operation::ListOrders,
            ApiGatewayRequest::get("/orders").user("erin"),
        ),
        (
            Operation::GetOrder,
            ApiGatewayRequest::get(&order_path).user("erin"),
        ),
        (
            Operation::ListNotifications,
            ApiGatewayRequest::get("/notifications").user("erin"),
        ),
        (
            Operation::ListProducts,
            ApiGatewayRequest::get("/products").user("erin"),
        ),
        (
            Operation::GetProduct,
            ApiGatewayRequest::get("/products/mug").user("erin"),
        ),
        (
            Operation::PutProduct,
            admin(ApiGatewayRequest::put("/products/cup"))
                .json(&json!({"name": "Cup", "price_cents": 900, "stock": 3})),
        ),
        (
            Operation::PayOrder,
            pay("erin", &to_pay).idempotency_key("pay"),
        ),
        (
            Operation::CancelOrder,
            cancel("erin", &to_cancel).idempotency_key("cancel"),
        ),
    ] {
        let response = send(operation, request).await;
        assert_eq!(
            response.status(),
            200,
            "{operation:?}: {}",
            json_body(&response)
        );
    }

    // Invalid requests.
    for (operation, request) in [
        (
            Operation::ListOrders,
            ApiGatewayRequest::get("/orders")
                .user("erin")
                .query("limit=0"),
        ),
        (
            Operation::GetOrder,
            ApiGatewayRequest::get("/orders/not%20an%20id").user("erin"),
        ),
        (
            Operation::PayOrder,
            pay("erin", &pending).idempotency_key("has space"),
        ),
        (
            Operation::CancelOrder,
            ApiGatewayRequest::post("/orders/bad%23id/cancel").user("erin"),
        ),
        (
            Operation::ListNotifications,
            ApiGatewayRequest::get("/notifications")
                .user("erin")
                .query("cursor=garbage"),
        ),
        (
            Operation::ListProducts,
            ApiGatewayRequest::get("/products")
                .user("erin")
                .query("limit=101"),
        ),
        (
            Operation::GetProduct,
            ApiGatewayRequest::get("/products/sku%201").user("erin"),
        ),
        (
            Operation::PutProduct,
            admin(ApiGatewayRequest::put("/products/cup"))
                .json(&json!({"name": " ", "price_cents": 900, "stock": 3})),
        ),
    ] {
        let response = send(operation, request).await;
        assert_eq!(
            code_of(&response),
            (400, code::INVALID_REQUEST.into()),
            "{operation:?}"
        );
    }
    let malformed = send(
        Operation::PutProduct,
        admin(ApiGatewayRequest::put("/products/cup"))
            .json(&json!({"name": "Cup", "price": 1, "stock": 3})),
    )
    .await;
    assert_eq!(code_of(&malformed), (400, code::MALFORMED_BODY.into()));
    let too_large = send(
        Operation::PutProduct,
        admin(ApiGatewayRequest::put("/products/cup")).body("x".repeat(MAX_BODY_BYTES + 1)),
    )
    .await;
    assert_eq!(code_of(&too_large), (400, code::BODY_TOO_LARGE.into()));

    // No identity, and no right.
    for operation in [
        Operation::ListOrders,
        Operation::GetOrder,
        Operation::PayOrder,
        Operation::CancelOrder,
        Operation::ListNotifications,
        Operation::ListProducts,
        Operation::GetProduct,
        Operation::PutProduct,
    ] {
        let path = operation.path().replace("{id}", "x-1");
        let anonymous =
            ApiGatewayRequest::new(operation.method(), path).header(DEV_USER_HEADER, "erin");
        let response = send(operation, anonymous).await;
        assert_eq!(
            code_of(&response),
            (401, code::UNAUTHENTICATED.into()),
            "{operation:?}"
        );
    }
    let customer = send(
        Operation::PutProduct,
        ApiGatewayRequest::put("/products/cup")
            .user("erin")
            .json(&json!({"name": "Cup", "price_cents": 1, "stock": 1})),
    )
    .await;
    assert_eq!(code_of(&customer), (403, code::FORBIDDEN.into()));

    // Not found.
    let missing = send(
        Operation::GetOrder,
        ApiGatewayRequest::get("/orders/nope").user("erin"),
    )
    .await;
    assert_eq!(code_of(&missing), (404, code::ORDER_NOT_FOUND.into()));
    for operation in [Operation::PayOrder, Operation::CancelOrder] {
        let path = operation.path().replace("{id}", pending.as_str());
        let stranger = ApiGatewayRequest::post(path).user("mallory");
        assert_eq!(
            code_of(&send(operation, stranger).await),
            (404, code::ORDER_NOT_FOUND.into())
        );
    }
    let no_product = send(
        Operation::GetProduct,
        ApiGatewayRequest::get("/products/nope").user("erin"),
    )
    .await;
    assert_eq!(code_of(&no_product), (404, code::PRODUCT_NOT_FOUND.into()));

    // Status conflicts and reused keys.
    let paid_cancel = send(Operation::CancelOrder, cancel("erin", &to_pay)).await;
    assert_eq!(
        code_of(&paid_cancel),
        (409, code::ORDER_STATUS_CONFLICT.into())
    );
    let cancelled_pay = send(Operation::PayOrder, pay("erin", &to_cancel)).await;
    assert_eq!(
        code_of(&cancelled_pay),
        (409, code::ORDER_STATUS_CONFLICT.into())
    );
    let reused = send(
        Operation::PayOrder,
        pay("erin", &pending).idempotency_key("cancel"),
    )
    .await;
    assert_eq!(code_of(&reused), (422, code::IDEMPOTENCY_KEY_REUSED.into()));
    let reused = send(
        Operation::CancelOrder,
        cancel("erin", &pending).idempotency_key("pay"),
    )
    .await;
    assert_eq!(code_of(&reused), (422, code::IDEMPOTENCY_KEY_REUSED.into()));

    // A key whose request failed and could not be released is held until its lease runs out.
    let stuck = context(
        Faulty::new(stack.store(), Dependency::DynamoDb),
        Faulty::new(stack.idempotency_store(), Dependency::DynamoDb),
        stack.scheduler(),
    );
    for (operation, request) in [
        (
            Operation::PayOrder,
            pay("erin", &pending).idempotency_key("stuck-pay"),
        ),
        (
            Operation::CancelOrder,
            cancel("erin", &pending).idempotency_key("stuck-cancel"),
        ),
    ] {
        stuck.storefront.store.fail_next("get_order", When::Before);
        stuck.idempotency.store.fail_next("release", When::Before);
        let failed = coverage.record(operation, common::send(&stuck, &request).await);
        assert_eq!(code_of(&failed), (503, code::SERVICE_UNAVAILABLE.into()));
        let waiting = coverage.record(operation, common::send(&stuck, &request).await);
        assert_eq!(
            code_of(&waiting),
            (409, code::IDEMPOTENCY_KEY_IN_USE.into())
        );
    }

    // Server failures: a store without its tables (a deployment fault) and one that is down.
    let refused = context(
        stack.store_without_tables(),
        stack.idempotency_store(),
        stack.scheduler(),
    );
    let down = context(
        stack.unreachable_store().await,
        stack.idempotency_store(),
        stack.scheduler(),
    );
    for operation in [
        Operation::ListOrders,
        Operation::GetOrder,
        Operation::PayOrder,
        Operation::CancelOrder,
        Operation::ListNotifications,
        Operation::ListProducts,
        Operation::GetProduct,
        Operation::PutProduct,
    ] {
        let path = operation.path().replace("{id}", pending.as_str());
        let request = admin(ApiGatewayRequest::new(operation.method(), path))
            .json(&json!({"name": "Cup", "price_cents": 900, "stock": 3}));
        let internal = coverage.record(operation, common::send(&refused, &request).await);
        assert_eq!(
            code_of(&internal),
            (500, code::INTERNAL_ERROR.into()),
            "{operation:?}"
        );
        let unavailable = coverage.record(operation, common::send(&down, &request).await);
        assert_eq!(
            code_of(&unavailable),
            (503, code::SERVICE_UNAVAILABLE.into()),
            "{operation:?}"
        );
        assert!(unavailable.headers().contains_key("retry-after"));
    }

    coverage.assert_matches(
        &OpenApi::load(),
        &[
            Operation::ListOrders,
            Operation::GetOrder,
            Operation::PayOrder,
            Operation::CancelOrder,
            Operation::ListNotifications,
            Operation::ListProducts,
            Operation::GetProduct,
            Operation::PutProduct,
        ],
    );
}

#[tokio::test]
async fn post_orders_is_not_this_functions() {
    let stack = LocalServices::new(1).await;
    let api = healthy(&stack);
    let response = send(&api, &ApiGatewayRequest::post("/orders").user("u")).await;
    assert_eq!(code_of(&response), (405, code::METHOD_NOT_ALLOWED.into()));
    assert_eq!(response.headers()["allow"], "GET");
}
