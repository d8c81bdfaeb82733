//! Hostile records: whatever bytes or JSON a record carries, consuming it never panics and never
//! stops its partition; it is applied or dead-lettered with its reason, and nothing else happens.
//! Domain logic only, on the in-memory fakes: what is under test is decoding and routing.

use orderflow_domain::consumer::{Applied, EventConsumer, Incoming, parse};
use orderflow_domain::ports::{ProductStore, RawRecord};
use orderflow_domain::testing::hostile::{any_json, block_on};
use orderflow_domain::testing::{FakeConsumer, FixedClock, InMemoryStore, RecordingDeadLetters};
use orderflow_types::{Product, ProductId, time};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// The event types and ids the fakes know, so that some generated events apply.
const EVENT_STRINGS: &[&str] = &[
    "created",
    "paid",
    "timeout",
    "cancelled",
    "CREATED",
    "o-1",
    "u-1",
];

type TestConsumer = EventConsumer<FakeConsumer>;

async fn consumer() -> TestConsumer {
    let consumer: TestConsumer = EventConsumer {
        store: InMemoryStore::default(),
        dead_letters: RecordingDeadLetters::default(),
        clock: FixedClock::at(time::parse("2026-11-25T21:00:00Z").expect("time")),
    };
    let product = Product {
        product_id: ProductId::parse("p-1").expect("product id"),
        name: "P".into(),
        price_cents: 100,
        stock: 10,
    };
    consumer.store.put_product(&product).await.expect("product");
    consumer
}

fn record(value: Option<Vec<u8>>) -> RawRecord {
    RawRecord {
        topic: "order-events".into(),
        partition: 0,
        offset: 7,
        key: Some(b"o-1".to_vec()),
        value,
        headers: Vec::new(),
    }
}

/// Consumes `record` on a fresh consumer and checks the promise: applied, or dead-lettered once
/// with a reason, never an error (the fakes are never unavailable) and never a panic.
fn assert_applied_or_dead_lettered(record: RawRecord) {
    block_on(async {
        let consumer = consumer().await;
        let incoming = Incoming {
            record: record.clone(),
            defect: None,
        };
        let applied = consumer
            .process_record(&incoming)
            .await
            .unwrap_or_else(|err| panic!("the partition stopped on {record:?}: {err}"));
        let dead = consumer.dead_letters.records();
        match applied {
            Applied::Done => {
                assert!(dead.is_empty());
                assert!(parse(&record).is_ok(), "applied only if it is an event");
            }
            Applied::DeadLettered => {
                assert_eq!(dead.len(), 1);
                assert_eq!(dead[0].0, record, "dead-lettered as it came");
                assert!(!dead[0].1.trim().is_empty(), "with a reason");
            }
        }
    });
}

/// An object with the event's field names, each with any value or missing, plus extra fields.
fn event_shaped() -> impl Strategy<Value = Value> {
    let field =
        |name: &'static str| prop::option::of(any_json(EVENT_STRINGS)).prop_map(move |v| (name, v));
    (
        field("order_id"),
        field("user_id"),
        field("event_type"),
        field("event_id"),
        field("occurred_at"),
        field("payment_due_at"),
        prop::option::of(any_json(EVENT_STRINGS)),
    )
        .prop_map(|(a, b, c, d, e, f, extra)| {
            let mut object = Map::new();
            for (name, value) in [a, b, c, d, e, f] {
                if let Some(value) = value {
                    object.insert(name.into(), value);
                }
            }
            if let Some(extra) = extra {
                object.insert("extra".into(), extra);
            }
            Value::Object(object)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_are_applied_or_dead_lettered(
        value in prop::option::of(prop::collection::vec(any::<u8>(), 0..512))
    ) {
        assert_applied_or_dead_lettered(record(value));
    }

    #[test]
    fn arbitrary_json_is_applied_or_dead_lettered(value in any_json(EVENT_STRINGS)) {
        assert_applied_or_dead_lettered(record(Some(value.to_string().into_bytes())));
    }

    #[test]
    fn event_shaped_json_is_applied_or_dead_lettered(value in event_shaped()) {
        assert_applied_or_dead_lettered(record(Some(value.to_string().into_bytes())));
    }
}

#[test]
fn deep_nesting_huge_numbers_and_long_ids_are_handled_like_any_record() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge_number = format!(
        r#"{{"order_id":1{},"user_id":"u-1","event_type":"created"}}"#,
        "0".repeat(10_000)
    );
    let long_id = format!(
        r#"{{"order_id":"{}","user_id":"u-1","event_type":"created"}}"#,
        "o".repeat(1_000_000)
    );
    for value in [&deep, &long_id] {
        assert!(parse(&record(Some(value.clone().into_bytes()))).is_err());
    }
    for value in [deep, huge_number, long_id] {
        assert_applied_or_dead_lettered(record(Some(value.into_bytes())));
    }
}
