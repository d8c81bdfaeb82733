//! Reading requests as API Gateway (HTTP API, payload 2.0) delivers them: the caller's identity,
//! bodies, pagination and the `Idempotency-Key`.

use lambda_http::http::Method;
use orderflow_http::ApiError;
use orderflow_http::identity::{DEV_GROUPS_HEADER, DEV_USER_HEADER, IdentityConfig};
use orderflow_http::request::{
    MAX_BODY_BYTES, idempotency_key, json_body, page_request, request_id,
};
use orderflow_http::testing::ApiGatewayRequest;
use orderflow_types::UserId;
use orderflow_types::api::CreateOrderRequest;
use serde_json::json;

fn development() -> IdentityConfig {
    IdentityConfig {
        dev_identity_headers: true,
        ..IdentityConfig::default()
    }
}

#[test]
fn the_caller_is_the_sub_claim_of_the_verified_token() {
    let request = ApiGatewayRequest::get("/orders")
        .user("auth0|5f7c8ec7")
        .claim("cognito:groups", "[admin ops]")
        .build();
    let caller = IdentityConfig::default().caller(&request).unwrap();
    assert_eq!(caller.user_id.as_str(), "auth0|5f7c8ec7");
    assert_eq!(caller.groups, ["admin", "ops"]);
}

#[test]
fn no_token_or_an_unusable_subject_is_unauthenticated() {
    let anonymous = ApiGatewayRequest::get("/orders").build();
    assert!(matches!(
        IdentityConfig::default().caller(&anonymous),
        Err(ApiError::Unauthenticated)
    ));
    for claims in [
        ApiGatewayRequest::get("/orders").claim("email", "a@example.com"),
        ApiGatewayRequest::get("/orders").user(""),
        ApiGatewayRequest::get("/orders").user("has space"),
    ] {
        assert!(matches!(
            IdentityConfig::default().caller(&claims.build()),
            Err(ApiError::Unauthenticated)
        ));
    }
}

#[test]
fn a_request_cannot_turn_development_identities_on() {
    // Everything a request could try: the development headers themselves, the setting's name as a
    // header, a query parameter and a claim. Only the deployment's configuration turns it on.
    let request = ApiGatewayRequest::get("/orders")
        .query("DEV_IDENTITY_HEADERS=true&dev_identity_headers=true")
        .header(DEV_USER_HEADER, "mallory")
        .header(DEV_GROUPS_HEADER, "admin")
        .header("dev-identity-headers", "true")
        .header("x-dev-identity-headers", "true")
        .build();
    let config = IdentityConfig::default();
    assert!(!config.dev_identity_headers);
    assert!(matches!(
        config.caller(&request),
        Err(ApiError::Unauthenticated)
    ));
    assert!(matches!(
        config.admin(&request),
        Err(ApiError::Unauthenticated)
    ));
}

#[test]
fn development_headers_name_the_caller_only_when_configured_and_never_over_a_token() {
    let request = ApiGatewayRequest::get("/orders")
        .header(DEV_USER_HEADER, "dev-user")
        .header(DEV_GROUPS_HEADER, "admin")
        .build();
    let caller = development().admin(&request).unwrap();
    assert_eq!(caller.user_id.as_str(), "dev-user");

    let authenticated = ApiGatewayRequest::get("/orders")
        .user("real-user")
        .header(DEV_USER_HEADER, "someone-else")
        .header(DEV_GROUPS_HEADER, "admin")
        .build();
    let caller = development().caller(&authenticated).unwrap();
    assert_eq!(caller.user_id.as_str(), "real-user");
    assert!(caller.groups.is_empty());
    assert!(matches!(
        development().admin(&authenticated),
        Err(ApiError::Forbidden)
    ));
}

#[test]
fn only_members_of_the_admin_group_are_administrators() {
    let config = IdentityConfig::default();
    let member = ApiGatewayRequest::put("/products/p")
        .user("u")
        .claim("cognito:groups", "[ops admin]")
        .build();
    let admin = config.admin(&member).expect("a member of admin");
    assert_eq!(admin.user_id.as_str(), "u");
    assert_eq!(admin.groups, ["ops", "admin"]);
    for groups in ["[ops]", "[administrators]", "[]"] {
        let other = ApiGatewayRequest::put("/products/p")
            .user("u")
            .claim("cognito:groups", groups)
            .build();
        assert!(
            matches!(config.admin(&other), Err(ApiError::Forbidden)),
            "{groups}"
        );
    }
    let other_claim = IdentityConfig {
        groups_claim: "groups".into(),
        ..IdentityConfig::default()
    };
    let request = ApiGatewayRequest::put("/products/p")
        .user("u")
        .claim("groups", r#"["admin"]"#)
        .build();
    let admin = other_claim
        .admin(&request)
        .expect("admin in the configured claim");
    assert_eq!(admin.user_id.as_str(), "u");
    assert_eq!(admin.groups, ["admin"]);
}

#[test]
fn bodies_are_parsed_strictly() {
    let valid = ApiGatewayRequest::post("/orders")
        .json(&json!({"items": [{"product_id": "a", "quantity": 1}]}))
        .build();
    let parsed: CreateOrderRequest = json_body(&valid).unwrap();
    assert_eq!(parsed.items.len(), 1);

    for body in [
        "",
        "  ",
        "not json",
        "[]",
        r#"{"items": [{"product_id": "a", "quantity": 1}], "user_id": "u"}"#,
        r#"{"items": [{"product_id": "a", "quantity": "1"}]}"#,
        r#"{"items": [{"product_id": "a"}]}"#,
    ] {
        let request = ApiGatewayRequest::post("/orders").body(body).build();
        assert!(
            matches!(
                json_body::<CreateOrderRequest>(&request),
                Err(ApiError::MalformedBody(_))
            ),
            "{body:?}"
        );
    }
    let padding = " ".repeat(MAX_BODY_BYTES);
    let large = ApiGatewayRequest::post("/orders")
        .body(format!(r#"{{"items": []{padding}}}"#))
        .build();
    assert!(matches!(
        json_body::<CreateOrderRequest>(&large),
        Err(ApiError::BodyTooLarge { .. })
    ));
}

#[test]
fn base64_bodies_are_decoded_before_parsing() {
    let mut event = ApiGatewayRequest::post("/orders").event();
    event["body"] = json!("eyJpdGVtcyI6W119"); // {"items":[]}
    event["isBase64Encoded"] = json!(true);
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let parsed: CreateOrderRequest = json_body(&request).unwrap();
    assert!(parsed.items.is_empty());
}

#[test]
fn pages_come_from_the_query_string() {
    let request = ApiGatewayRequest::get("/orders")
        .query("limit=5&cursor=abc")
        .build();
    let page = page_request(&request).unwrap();
    assert_eq!((page.limit, page.cursor.as_deref()), (5, Some("abc")));
    let default = page_request(&ApiGatewayRequest::get("/orders").build()).unwrap();
    assert_eq!((default.limit, default.cursor), (20, None));
    for query in ["limit=0", "limit=101", "limit=x"] {
        let request = ApiGatewayRequest::get("/orders").query(query).build();
        assert!(
            matches!(page_request(&request), Err(ApiError::Domain(_))),
            "{query}"
        );
    }
}

#[test]
fn idempotency_keys_are_validated_and_scoped_to_the_caller() {
    let user = UserId::parse("u-1").unwrap();
    let without = ApiGatewayRequest::post("/orders").build();
    assert_eq!(idempotency_key(&without, &user).unwrap(), None);
    let with = ApiGatewayRequest::post("/orders")
        .idempotency_key("3f1e2d4c-0000-4000-8000-000000000001")
        .build();
    let key = idempotency_key(&with, &user).unwrap().unwrap();
    assert_eq!(key.as_str(), "u-1 3f1e2d4c-0000-4000-8000-000000000001");
    for bad in ["", "has space", &"k".repeat(256)] {
        let request = ApiGatewayRequest::post("/orders")
            .idempotency_key(bad)
            .build();
        assert!(idempotency_key(&request, &user).is_err(), "{bad:?}");
    }
}

#[test]
fn the_request_id_is_api_gateways() {
    let request = ApiGatewayRequest::new(Method::GET, "/orders").build();
    assert!(request_id(&request).starts_with("test-"));
}
