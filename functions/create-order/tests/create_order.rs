//! `POST /orders` through the handler, against moto (DynamoDB, its stream, the Scheduler). The
//! function talks to no broker: its `created` event is the order's INSERT on the orders table's
//! stream, which order-stream publishes.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::TimeDelta;
use common::*;
use orderflow_adapters::scheduler::schedule_name;
use orderflow_adapters::system::SystemClock;
use orderflow_domain::Dependency;
use orderflow_domain::ports::{Clock, IdempotencyKey, OrderStore, PageRequest};
use orderflow_domain::testing::FixedClock;
use orderflow_domain::testing::faults::{Faulty, When};
use orderflow_http::error::code;
use orderflow_http::identity::DEV_USER_HEADER;
use orderflow_http::request::MAX_BODY_BYTES;
use orderflow_http::response::IDEMPOTENT_REPLAYED;
use orderflow_http::routes::Operation;
use orderflow_http::testing::{ApiGatewayRequest, Coverage, OpenApi, json_body, outcome};
use orderflow_testing::figures;
use orderflow_testing::services::LocalServices;
use orderflow_types::{Order, OrderStatus, PaymentTimeout, UserId};
use serde_json::json;

fn code_of(response: &lambda_http::Response<lambda_http::Body>) -> (u16, String) {
    let (status, code) = outcome(response);
    (status, code.unwrap_or_default())
}

#[tokio::test]
async fn an_order_reserves_its_stock_schedules_its_timeout_and_is_on_the_stream() {
    let stack = LocalServices::new(3).await;
    let beans = stack.product("beans", 250, 5).await;
    let grinder = stack.product("grinder", 1000, 2).await;
    let api = context(stack.store(), stack.idempotency_store(), stack.scheduler());

    let request = order_request("auth0|alice", &[(&beans, 2), (&grinder, 1), (&beans, 1)]);
    let response = send(&api, &request).await;
    assert_eq!(response.status(), 201, "{}", json_body(&response));
    let order: Order = serde_json::from_value(json_body(&response)).unwrap();
    assert_eq!(order.status, OrderStatus::Pending);
    assert_eq!(order.user_id.as_str(), "auth0|alice");
    let lines: Vec<_> = order
        .lines
        .iter()
        .map(|l| (l.product_id.as_str(), l.quantity.get(), l.unit_price_cents))
        .collect();
    assert_eq!(lines, [("beans", 3, 250), ("grinder", 1, 1000)], "merged");
    assert_eq!(order.total_cents, 1750);
    assert_eq!(order.payment_due_at, order.created_at + PAYMENT_TIMEOUT);
    assert_eq!(
        (stack.stock(&beans).await, stack.stock(&grinder).await),
        (2, 1)
    );
    assert_eq!(
        stack.store().get_order(&order.order_id).await.unwrap(),
        Some(order.clone())
    );

    let schedule = stack
        .scheduler_client
        .get_schedule()
        .group_name(&stack.schedule_group)
        .name(schedule_name(&order.order_id))
        .send()
        .await
        .expect("the payment timeout is scheduled");
    let config = stack.scheduler_config();
    let target = schedule.target().expect("a target");
    assert_eq!(target.arn(), config.target_arn);
    assert_eq!(target.role_arn(), config.role_arn);
    assert_eq!(
        target.dead_letter_config().and_then(|d| d.arn()),
        config.dead_letter_arn.as_deref()
    );
    assert_eq!(
        target
            .retry_policy()
            .and_then(|r| r.maximum_retry_attempts()),
        Some(config.max_retry_attempts)
    );
    let input: PaymentTimeout = serde_json::from_str(target.input().expect("input")).unwrap();
    assert_eq!(
        (input.order_id, input.user_id, input.payment_due_at),
        (
            order.order_id.clone(),
            order.user_id.clone(),
            order.payment_due_at
        )
    );

    assert_eq!(
        stack.status_changes(&order.order_id).await,
        [(None, Some(OrderStatus::Pending))],
        "one INSERT, which order-stream announces as created"
    );
}

#[tokio::test]
async fn a_line_holds_at_most_a_thousand_units() {
    let stack = LocalServices::new(1).await;
    let pallet = stack.product("pallet", 10, 2_000).await;
    let api = context(stack.store(), stack.idempotency_store(), stack.scheduler());
    let too_many = send(&api, &order_request("kim", &[(&pallet, 1_001)])).await;
    assert_eq!(code_of(&too_many), (400, code::INVALID_REQUEST.into()));
    assert_eq!(
        json_body(&too_many)["details"]["errors"][0]["field"],
        "items[0].quantity"
    );
    assert_eq!(stack.stock(&pallet).await, 2_000, "nothing reserved");

    let most = send(&api, &order_request("kim", &[(&pallet, 1_000)])).await;
    assert_eq!(most.status(), 201, "{}", json_body(&most));
    assert_eq!(json_body(&most)["lines"][0]["quantity"], 1_000);
    assert_eq!(stack.stock(&pallet).await, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_orders_sell_exactly_the_stock() {
    const ORDERS: usize = 200;
    const STOCK: u64 = 50;
    let stack = LocalServices::new(3).await;
    let sku = stack.product("hot-item", 999, STOCK).await;
    let api = Arc::new(context(
        stack.store(),
        stack.idempotency_store(),
        stack.scheduler(),
    ));

    let started = Instant::now();
    let attempts = (0..ORDERS).map(|n| {
        let api = Arc::clone(&api);
        let request = order_request(&format!("buyer-{n}"), &[(&sku, 1)])
            .idempotency_key(&format!("attempt-{n}"));
        tokio::spawn(async move { send(&api, &request).await })
    });
    let responses = futures::future::join_all(attempts).await;
    let elapsed = started.elapsed();

    let mut placed = BTreeSet::new();
    let mut sold_out = 0;
    for response in responses {
        let response = response.expect("the request task");
        match code_of(&response) {
            (201, _) => {
                placed.insert(order_id(&response));
            }
            (409, code) if code == code::OUT_OF_STOCK => {
                let shortage = &json_body(&response)["details"]["shortages"][0];
                assert_eq!(shortage["product_id"], "hot-item");
                assert_eq!(shortage["requested"], 1);
                sold_out += 1;
            }
            other => panic!("unexpected {other:?}: {}", json_body(&response)),
        }
    }
    figures::report(
        "never oversold",
        format!(
            "{ORDERS} concurrent orders for {STOCK} units answered in {elapsed:.2?}: {} placed, {sold_out} sold out",
            placed.len()
        ),
    );
    assert_eq!(placed.len(), 50, "exactly the stock is sold");
    assert_eq!(sold_out, ORDERS - 50);
    assert_eq!(stack.stock(&sku).await, 0);

    let stored: BTreeSet<_> = stack.order_ids().await.into_iter().collect();
    assert_eq!(stored, placed, "no order but the answered ones exists");
    for id in &placed {
        let order = stack.store().get_order(id).await.unwrap().unwrap();
        assert_eq!(order.status, OrderStatus::Pending);
        assert_eq!(order.lines[0].quantity.get(), 1);
    }
    let scheduled: BTreeSet<_> = stack.schedule_names().await.into_iter().collect();
    let expected: BTreeSet<_> = placed.iter().map(schedule_name).collect();
    assert_eq!(
        scheduled, expected,
        "every placed order has its timeout and no other timeout is left"
    );
    for id in &placed {
        assert_eq!(
            stack.status_changes(id).await,
            [(None, Some(OrderStatus::Pending))]
        );
    }
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_same_order_and_reserves_once() {
    let stack = LocalServices::new(1).await;
    let sku = stack.product("mug", 1450, 10).await;
    let api = context(stack.store(), stack.idempotency_store(), stack.scheduler());
    let request = order_request("bob", &[(&sku, 3)]).idempotency_key("c0ffee-1");
    let first = send(&api, &request).await;
    assert_eq!(first.status(), 201);
    assert!(!first.headers().contains_key(IDEMPOTENT_REPLAYED));

    // The same order written differently is the same request.
    let respaced = ApiGatewayRequest::post("/orders")
        .user("bob")
        .idempotency_key("c0ffee-1")
        .body(r#"{ "items" : [ { "quantity" : 3 , "product_id" : "mug" } ] }"#);
    for retry in [&request, &respaced] {
        let again = send(&api, retry).await;
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()[IDEMPOTENT_REPLAYED], "true");
        assert_eq!(json_body(&again), json_body(&first));
    }
    assert_eq!(stack.stock(&sku).await, 7, "reserved once");
    assert_eq!(stack.order_ids().await, [order_id(&first)]);
    let page = stack
        .store()
        .list_orders(&UserId::parse("bob").unwrap(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        stack.status_changes(&order_id(&first)).await,
        [(None, Some(OrderStatus::Pending))],
        "inserted once"
    );

    // Another user's identical key is theirs alone.
    let other = order_request("carol", &[(&sku, 3)]).idempotency_key("c0ffee-1");
    let theirs = send(&api, &other).await;
    assert_eq!(theirs.status(), 201);
    assert_ne!(order_id(&theirs), order_id(&first));
    assert_eq!(stack.stock(&sku).await, 4);
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_refused() {
    let stack = LocalServices::new(1).await;
    let sku = stack.product("mug", 1450, 10).await;
    let api = context(stack.store(), stack.idempotency_store(), stack.scheduler());
    let first = send(
        &api,
        &order_request("bob", &[(&sku, 1)]).idempotency_key("k-1"),
    )
    .await;
    assert_eq!(first.status(), 201);
    let changed = send(
        &api,
        &order_request("bob", &[(&sku, 2)]).idempotency_key("k-1"),
    )
    .await;
    assert_eq!(
        code_of(&changed),
        (422, code::IDEMPOTENCY_KEY_REUSED.to_owned())
    );
    assert_eq!(
        stack.stock(&sku).await,
        9,
        "the refused request reserved nothing"
    );
}

#[tokio::test]
async fn a_key_is_remembered_for_its_time_to_live_and_then_free() {
    let stack = LocalServices::new(1).await;
    let sku = stack.product("mug", 1450, 10).await;
    let api = context_with_clock(
        stack.store(),
        stack.idempotency_store(),
        stack.scheduler(),
        FixedClock::at(SystemClock.now()),
    );
    let request = order_request("dave", &[(&sku, 1)]).idempotency_key("daily");
    let first = send(&api, &request).await;
    assert_eq!(first.status(), 201);

    let record = stack
        .idempotency_store()
        .get(&IdempotencyKey::new(&UserId::parse("dave").unwrap(), "daily").unwrap())
        .await
        .unwrap()
        .expect("the key is recorded");
    let first_order: Order = serde_json::from_value(json_body(&first)).unwrap();
    assert_eq!(record.order_id, first_order.order_id);
    let ttl_end = first_order.created_at + TimeDelta::hours(24);
    assert!(
        record.expires_at >= ttl_end && record.expires_at < ttl_end + TimeDelta::seconds(1),
        "the TTL attribute is a day after the request, in whole seconds rounded up: {:?}",
        record.expires_at
    );

    api.storefront
        .clock
        .advance(TimeDelta::hours(24) - TimeDelta::seconds(1));
    let replayed = send(&api, &request).await;
    assert_eq!(replayed.headers()[IDEMPOTENT_REPLAYED], "true");

    api.storefront.clock.advance(TimeDelta::seconds(2));
    let fresh = send(&api, &request).await;
    assert_eq!(fresh.status(), 201);
    assert!(!fresh.headers().contains_key(IDEMPOTENT_REPLAYED));
    assert_ne!(order_id(&fresh), order_id(&first));
    assert_eq!(stack.stock(&sku).await, 8);
}

#[tokio::test]
async fn a_request_cannot_name_its_own_caller() {
    let stack = LocalServices::new(1).await;
    let sku = stack.product("mug", 1450, 10).await;
    let api = context(stack.store(), stack.idempotency_store(), stack.scheduler());
    assert!(!api.identity.dev_identity_headers);
    let items = json!({"items": [{"product_id": sku, "quantity": 1}]});
    let forged = ApiGatewayRequest::post("/orders")
        .header(DEV_USER_HEADER, "mallory")
        .header("x-dev-identity-headers", "true")
        .query("DEV_IDENTITY_HEADERS=true")
        .json(&items);
    assert_eq!(
        code_of(&send(&api, &forged).await),
        (401, code::UNAUTHENTICATED.to_owned())
    );
    // A user id in the body is an unknown field, not an identity.
    let in_body = ApiGatewayRequest::post("/orders")
        .user("bob")
        .json(&json!({"items": [{"product_id": sku, "quantity": 1}], "user_id": "mallory"}));
    assert_eq!(
        code_of(&send(&api, &in_body).await),
        (400, code::MALFORMED_BODY.to_owned())
    );
    assert_eq!(stack.stock(&sku).await, 10);
}

#[tokio::test]
async fn every_documented_answer_of_post_orders_is_given_as_documented() {
    let stack = LocalServices::new(1).await;
    let mug = stack.product("mug", 1450, 2).await;
    let coverage = Coverage::default();
    let op = Operation::CreateOrder;
    let healthy = context(stack.store(), stack.idempotency_store(), stack.scheduler());
    let send = |request: ApiGatewayRequest| {
        let healthy = &healthy;
        let coverage = &coverage;
        async move { coverage.record(op, send(healthy, &request).await) }
    };

    let placed = send(order_request("erin", &[(&mug, 1)])).await;
    assert_eq!(placed.status(), 201);

    let malformed = send(
        ApiGatewayRequest::post("/orders")
            .user("erin")
            .body("{\"items\": ["),
    )
    .await;
    assert_eq!(code_of(&malformed), (400, code::MALFORMED_BODY.into()));
    let too_large = send(
        ApiGatewayRequest::post("/orders")
            .user("erin")
            .body(" ".repeat(MAX_BODY_BYTES + 1)),
    )
    .await;
    assert_eq!(code_of(&too_large), (400, code::BODY_TOO_LARGE.into()));
    let invalid = send(ApiGatewayRequest::post("/orders").user("erin").json(&json!({
        "items": [{"product_id": "mug", "quantity": 0}, {"product_id": "bad id", "quantity": 1}]
    })))
    .await;
    assert_eq!(code_of(&invalid), (400, code::INVALID_REQUEST.into()));
    let fields: Vec<_> = json_body(&invalid)["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["items[0].quantity", "items[1].product_id"]);
    let too_many: Vec<_> = (0..51)
        .map(|n| json!({"product_id": format!("p{n}"), "quantity": 1}))
        .collect();
    let oversized = send(
        ApiGatewayRequest::post("/orders")
            .user("erin")
            .json(&json!({"items": too_many})),
    )
    .await;
    assert_eq!(code_of(&oversized), (400, code::INVALID_REQUEST.into()));
    let bad_key = send(order_request("erin", &[(&mug, 1)]).idempotency_key("not a key")).await;
    assert_eq!(code_of(&bad_key), (400, code::INVALID_REQUEST.into()));

    let anonymous = send(ApiGatewayRequest::post("/orders").json(&json!({"items": []}))).await;
    assert_eq!(code_of(&anonymous), (401, code::UNAUTHENTICATED.into()));

    let short = send(order_request("erin", &[(&mug, 2)])).await;
    assert_eq!(code_of(&short), (409, code::OUT_OF_STOCK.into()));
    assert_eq!(
        json_body(&short)["details"]["shortages"],
        json!([{"product_id": "mug", "requested": 2, "available": 1}])
    );
    let unknown = send(ApiGatewayRequest::post("/orders").user("erin").json(&json!({
        "items": [{"product_id": "mug", "quantity": 1}, {"product_id": "ghost", "quantity": 1}]
    })))
    .await;
    assert_eq!(code_of(&unknown), (422, code::UNKNOWN_PRODUCTS.into()));
    assert_eq!(
        json_body(&unknown)["details"]["product_ids"],
        json!(["ghost"])
    );

    let first = send(order_request("erin", &[(&mug, 1)]).idempotency_key("k")).await;
    assert_eq!(first.status(), 201);
    let reused = send(order_request("erin", &[(&mug, 2)]).idempotency_key("k")).await;
    assert_eq!(code_of(&reused), (422, code::IDEMPOTENCY_KEY_REUSED.into()));
    assert_eq!(stack.stock(&mug).await, 0);

    // A key whose request failed and whose lease could not be released waits for the lease.
    // (On a product in stock: an order known to be short is refused before anything is scheduled.)
    let lamp = stack.product("lamp", 3900, 5).await;
    let stuck = context(
        stack.store(),
        Faulty::new(stack.idempotency_store(), Dependency::DynamoDb),
        Faulty::new(stack.scheduler(), Dependency::Scheduler),
    );
    stuck
        .storefront
        .scheduler
        .fail_next("schedule", When::Before);
    stuck.idempotency.store.fail_next("release", When::Before);
    let request = order_request("erin", &[(&lamp, 1)]).idempotency_key("stuck");
    let failed = coverage.record(op, common::send(&stuck, &request).await);
    assert_eq!(code_of(&failed), (503, code::SERVICE_UNAVAILABLE.into()));
    assert!(failed.headers().contains_key("retry-after"));
    let waiting = coverage.record(op, common::send(&stuck, &request).await);
    assert_eq!(
        code_of(&waiting),
        (409, code::IDEMPOTENCY_KEY_IN_USE.into())
    );
    assert!(waiting.headers().contains_key("retry-after"));

    let refused = context(
        stack.store_without_tables(),
        stack.idempotency_store(),
        stack.scheduler(),
    );
    let internal = coverage.record(
        op,
        common::send(&refused, &order_request("erin", &[(&mug, 1)])).await,
    );
    assert_eq!(code_of(&internal), (500, code::INTERNAL_ERROR.into()));
    let body = orderflow_http::response::body_text(&internal).to_owned();
    assert!(
        !body.contains("missing") && !body.contains("DynamoDB"),
        "{body}"
    );

    let down = context(
        stack.unreachable_store().await,
        stack.idempotency_store(),
        stack.scheduler(),
    );
    let unavailable = coverage.record(
        op,
        common::send(&down, &order_request("erin", &[(&mug, 1)])).await,
    );
    assert_eq!(
        code_of(&unavailable),
        (503, code::SERVICE_UNAVAILABLE.into())
    );

    coverage.assert_matches(&OpenApi::load(), &[op]);
}

#[tokio::test]
async fn other_routes_are_not_this_functions() {
    let stack = LocalServices::new(1).await;
    let api = context(stack.store(), stack.idempotency_store(), stack.scheduler());
    let wrong_method = send(&api, &ApiGatewayRequest::get("/orders").user("u")).await;
    assert_eq!(
        code_of(&wrong_method),
        (405, code::METHOD_NOT_ALLOWED.into())
    );
    assert_eq!(wrong_method.headers()["allow"], "POST");
    let elsewhere = send(&api, &ApiGatewayRequest::post("/orders/o-1/pay").user("u")).await;
    assert_eq!(code_of(&elsewhere), (404, code::ROUTE_NOT_FOUND.into()));
}
