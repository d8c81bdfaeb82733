//! Behaviour every [`TimeoutScheduler`], [`EventPublisher`] and [`DeadLetters`] must have. Each
//! function takes the port and a way to see what it did (for a fake, its record; for an adapter,
//! the service read back), so the fakes in [`crate::testing`] and the adapters on the local
//! services are held to the same contract.

use chrono::TimeDelta;
use orderflow_types::{EventId, EventType, OrderEvent, OrderId, PaymentTimeout, UserId};

use crate::ports::{DeadLetters, EventPublisher, RawRecord, TimeoutScheduler};

/// A deadline half an hour from now, to the millisecond as schedules carry it.
fn due_in(minutes: i64) -> orderflow_types::Timestamp {
    let now = chrono::Utc::now();
    let millis = now.timestamp_millis() - now.timestamp_millis() % 1000;
    chrono::DateTime::from_timestamp_millis(millis).unwrap_or(now) + TimeDelta::minutes(minutes)
}

fn timeout(order: &OrderId, minutes: i64) -> PaymentTimeout {
    PaymentTimeout {
        order_id: order.clone(),
        user_id: UserId::parse("contract-user").expect("valid user id"),
        payment_due_at: due_in(minutes),
    }
}

/// A timeout is pending once scheduled, with what it was scheduled with, and gone once
/// cancelled.
pub async fn a_timeout_is_pending_until_cancelled<T: TimeoutScheduler>(
    scheduler: &T,
    pending: impl AsyncFn(&OrderId) -> Option<PaymentTimeout>,
) {
    let order = OrderId::generate();
    let due = timeout(&order, 30);
    scheduler.schedule(&due).await.expect("schedule");
    assert_eq!(pending(&order).await, Some(due), "scheduled");
    scheduler.cancel(&order).await.expect("cancel");
    assert_eq!(pending(&order).await, None, "cancelled");
}

/// Scheduling an order's timeout again succeeds and leaves the first schedule as it was, so a
/// retried placement never moves a deadline.
pub async fn scheduling_again_keeps_the_first_schedule<T: TimeoutScheduler>(
    scheduler: &T,
    pending: impl AsyncFn(&OrderId) -> Option<PaymentTimeout>,
) {
    let order = OrderId::generate();
    let first = timeout(&order, 30);
    scheduler.schedule(&first).await.expect("schedule");
    scheduler
        .schedule(&timeout(&order, 45))
        .await
        .expect("schedule again");
    assert_eq!(pending(&order).await, Some(first));
}

/// Cancelling a timeout that is not pending (never scheduled, or cancelled already) succeeds and
/// changes nothing else.
pub async fn cancelling_what_is_not_pending_succeeds<T: TimeoutScheduler>(
    scheduler: &T,
    pending: impl AsyncFn(&OrderId) -> Option<PaymentTimeout>,
) {
    let kept = OrderId::generate();
    let due = timeout(&kept, 30);
    scheduler.schedule(&due).await.expect("schedule");
    scheduler
        .cancel(&OrderId::generate())
        .await
        .expect("cancel a timeout never scheduled");
    let cancelled = OrderId::generate();
    scheduler
        .schedule(&timeout(&cancelled, 30))
        .await
        .expect("schedule");
    scheduler.cancel(&cancelled).await.expect("cancel");
    scheduler.cancel(&cancelled).await.expect("cancel again");
    assert_eq!(pending(&kept).await, Some(due), "the other timeout stays");
}

/// Published events are read back as they were published (every field), and an order's events
/// in the order they were published.
pub async fn events_are_published_as_given_and_in_order<P: EventPublisher>(
    publisher: &P,
    published: impl AsyncFn() -> Vec<OrderEvent>,
) {
    let user = UserId::parse("contract-user").expect("valid user id");
    let (first, second) = (OrderId::generate(), OrderId::generate());
    let event = |order: &OrderId, event_type, n| OrderEvent {
        order_id: order.clone(),
        user_id: user.clone(),
        event_type,
        event_id: Some(EventId::generate()),
        occurred_at: Some(due_in(n)),
    };
    let sent = [
        event(&first, EventType::Created, 0),
        event(&second, EventType::Created, 1),
        event(&first, EventType::Paid, 2),
        event(&second, EventType::Timeout, 3),
        event(&second, EventType::Cancelled, 4),
    ];
    for event in &sent {
        publisher.publish(event).await.expect("publish");
    }
    let read = published().await;
    for order in [&first, &second] {
        let of = |events: &[OrderEvent]| -> Vec<OrderEvent> {
            events
                .iter()
                .filter(|event| &event.order_id == order)
                .cloned()
                .collect()
        };
        assert_eq!(of(&read), of(&sent), "the events of {order}");
    }
}

/// A dead-lettered record keeps everything it had (where it came from, key, value, headers) and
/// the reason it could not be processed.
pub async fn a_dead_letter_keeps_the_record_and_its_reason<D: DeadLetters>(
    dead_letters: &D,
    stored: impl AsyncFn() -> Vec<(RawRecord, String)>,
) {
    let record = RawRecord {
        topic: "order-events".into(),
        partition: 2,
        offset: 41,
        key: Some(b"o-1".to_vec()),
        value: Some(vec![0xff, b'{', 0x00, b'x']),
        headers: vec![("trace".into(), b"abc".to_vec())],
    };
    let bare = RawRecord {
        offset: 42,
        key: None,
        value: None,
        headers: Vec::new(),
        ..record.clone()
    };
    dead_letters
        .dead_letter(&record, "the value is not an order event")
        .await
        .expect("dead-letter");
    dead_letters
        .dead_letter(&bare, "the record has no value")
        .await
        .expect("dead-letter");
    assert_eq!(
        stored().await,
        [
            (record, "the value is not an order event".to_owned()),
            (bare, "the record has no value".to_owned()),
        ]
    );
}
