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
    for event_type in EventType::ALL {
        let event: OrderEvent = round_trip(&format!("events/{event_type}.json"));
        assert_eq!(event.event_type, event_type);
        assert!(event.event_id.is_some() && event.occurred_at.is_some());
    }
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
    let lines_total: u64 = order.lines.iter().map(|line| line.total_cents()).sum();
    assert_eq!(order.total_cents, lines_total);
}

#[test]
fn create_order_request_fixture_is_valid() {
    let request: CreateOrderRequest = round_trip("api/create-order-request.json");
    assert_eq!(request.validate().unwrap().len(), 2);
}
