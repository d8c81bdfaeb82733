//! The wire formats against the fixtures in `tests/fixtures/`, which other tests and tools share.

use std::path::PathBuf;

use orderflow_types::api::CreateOrderRequest;
use orderflow_types::{EventType, Order, OrderEvent, OrderStatus, PaymentTimeout};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("{}: {err}", file.display()))
}

/// Parses the fixture, writes it back, and checks that the JSON is unchanged.
fn round_trip<T: DeserializeOwned + Serialize>(path: &str) -> T {
    let text = fixture(path);
    let value: T = serde_json::from_str(&text).unwrap();
    let original: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_value(&value).unwrap(), original, "{path}");
    value
}

#[test]
fn every_event_type_round_trips() {
    for (path, event_type) in [
        ("events/created.json", EventType::Created),
        ("events/paid.json", EventType::Paid),
        ("events/timeout.json", EventType::Timeout),
        ("events/cancelled.json", EventType::Cancelled),
    ] {
        let event: OrderEvent = round_trip(path);
        assert_eq!(event.event_type, event_type, "{path}");
        assert_eq!(
            event.order_id.as_str(),
            "0193a1f2-7c4e-7d2a-9b1e-4f5a6b7c8d9e",
            "{path}"
        );
        assert!(event.event_id.is_some() && event.occurred_at.is_some());
    }
}

/// The original Go system's consumer struct: `OrderEvent{OrderID uint; UserID uint; EventType
/// string}`, with its JSON tags.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct GoConsumerEvent {
    order_id: u64,
    user_id: u64,
    event_type: String,
}

/// The same struct after the two-line change the README describes: string ids.
#[derive(Debug, serde::Deserialize, PartialEq, Eq)]
struct UpdatedGoConsumerEvent {
    order_id: String,
    user_id: String,
    event_type: String,
}

#[test]
fn a_go_consumer_with_numeric_ids_cannot_read_orderflow_events_and_one_with_string_ids_can() {
    let written_by_orderflow = fixture("events/created.json");
    let err = serde_json::from_str::<GoConsumerEvent>(&written_by_orderflow).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid type: string"),
        "as Go says: cannot unmarshal string into Go struct field of type uint: {err}"
    );
    let updated: UpdatedGoConsumerEvent = serde_json::from_str(&written_by_orderflow).unwrap();
    assert_eq!(
        updated,
        UpdatedGoConsumerEvent {
            order_id: "0193a1f2-7c4e-7d2a-9b1e-4f5a6b7c8d9e".into(),
            user_id: "3f1e2d4c-0000-4000-8000-000000000001".into(),
            event_type: "created".into(),
        },
        "the documented fields, extra ones ignored"
    );
    // A legacy event that orderflow read and wrote back keeps its numeric ids, as strings.
    let rewritten: OrderEvent =
        serde_json::from_str(&fixture("events/legacy-go-created.json")).unwrap();
    let updated: UpdatedGoConsumerEvent =
        serde_json::from_value(serde_json::to_value(&rewritten).unwrap()).unwrap();
    assert_eq!(
        (updated.order_id.as_str(), updated.user_id.as_str()),
        ("1732565045123", "42")
    );
}

#[test]
fn event_written_by_the_go_system_parses_with_string_ids() {
    let event: OrderEvent =
        serde_json::from_str(&fixture("events/legacy-go-created.json")).unwrap();
    assert_eq!(event.order_id.as_str(), "1732565045123");
    assert_eq!(event.user_id.as_str(), "42");
    assert_eq!(event.event_type, EventType::Created);
    assert_eq!(event.event_id, None);
    assert_eq!(event.occurred_at, None);
    // Written back, it has the original three fields, ids as strings.
    assert_eq!(
        serde_json::to_value(&event).unwrap(),
        serde_json::json!({"order_id":"1732565045123","user_id":"42","event_type":"created"})
    );
}

#[test]
fn legacy_event_with_string_ids_round_trips_unchanged() {
    let _: OrderEvent = round_trip("events/legacy-go-timeout.json");
}

#[test]
fn unknown_additive_fields_are_ignored() {
    let event: OrderEvent =
        serde_json::from_str(&fixture("events/with-future-fields.json")).unwrap();
    assert_eq!(event.event_type, EventType::Paid);
    assert_eq!(event.order_id.as_str(), "o-7");
}

#[test]
fn scheduler_payload_round_trips() {
    let payload: PaymentTimeout = round_trip("events/payment-timeout.json");
    assert_eq!(
        orderflow_types::time::format(&payload.payment_due_at),
        "2026-11-25T20:34:05.123Z"
    );
}

#[test]
fn order_body_round_trips() {
    let order: Order = round_trip("api/order.json");
    assert_eq!(order.status, OrderStatus::Pending);
    // 2 × 350 + 1 × 275
    assert_eq!(order.total_cents, 975);
    let totals: Vec<u64> = order.lines.iter().map(|line| line.total_cents()).collect();
    assert_eq!(totals, [700, 275]);
}

#[test]
fn create_order_request_fixture_is_valid() {
    let request: CreateOrderRequest = round_trip("api/create-order-request.json");
    assert_eq!(request.validate().unwrap().len(), 2);
}
