//! The order-events consumer: what each event does, and how a batch of Kafka records is worked
//! through. Records arrive at least once, in order per partition; every effect here is idempotent,
//! so a redelivered record changes nothing that its first delivery changed.
//!
//! - `timeout`: payment expiry ([`crate::expiry`]): a PENDING order is cancelled, its stock
//!   returned and its user notified, in one transaction; order-stream announces that change as
//!   `cancelled` ([`crate::outbox`]). A paid or customer-cancelled order is left alone. A timeout
//!   that arrives before the order's payment deadline (by more than
//!   [`CLOCK_SKEW_ALLOWANCE`](crate::expiry::CLOCK_SKEW_ALLOWANCE)) is dead-lettered and the order
//!   stays PENDING: order-timeout never announces one early, so it came from elsewhere, and the
//!   scheduled timeout still comes.
//! - `created`, `cancelled`: the user's notification, with a deterministic id.
//! - `paid`: the sale is counted, with a per-order marker in the same transaction.
//!
//! A record that can never succeed (not an order event, an order that does not exist) goes to the
//! dead-letter topic and the partition moves on. A failure a retry can fix stops the partition at
//! that record, so nothing after it is applied out of order.

use futures::future::join_all;
use orderflow_types::{EventType, Notification, NotificationKind, Order, OrderEvent, OrderStatus};
use tracing::{error, instrument, warn};

use crate::error::{Error, cause_chain};
use crate::ports::{
    Clock, ConsumerPorts, DeadLetters, NotificationStore, OrderStore, RawRecord, SalesStore,
};

/// Why an event was not applied.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// It can never succeed; the reason says why.
    #[error("{0}")]
    Poison(String),
    /// It may succeed later.
    #[error(transparent)]
    Retry(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        match error {
            // Data that cannot succeed however often it is retried.
            Error::Validation(_) | Error::NotFound { .. } | Error::InvalidData { .. } => {
                Self::Poison(error.to_string())
            }
            // Unavailable dependencies recover. A Rejected call (a missing table, a denied
            // permission) is a deployment fault: the stream waits for the fix rather than
            // dead-lettering every record in the meantime.
            _ => Self::Retry(error),
        }
    }
}

/// Applies order events: what order-events does with each record it is handed.
pub struct EventConsumer<P: ConsumerPorts> {
    pub store: P::Store,
    pub dead_letters: P::DeadLetters,
    pub clock: P::Clock,
}

/// What happened to one record, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Done,
    DeadLettered,
}

/// The outcome of a batch: for each partition that stopped early, the first record not done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub done: usize,
    pub dead_lettered: usize,
    pub stopped_at: Vec<(String, i64)>,
}

/// A decoded record and, if its bytes were already found defective, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub record: RawRecord,
    pub defect: Option<String>,
}

impl<P: ConsumerPorts> EventConsumer<P> {
    /// Works through a batch: partitions concurrently, each partition's records in order.
    pub async fn process_batch(&self, partitions: Vec<(String, Vec<Incoming>)>) -> BatchOutcome {
        let results = join_all(partitions.into_iter().map(|(partition, records)| async move {
            let mut done = 0;
            let mut dead_lettered = 0;
            for incoming in records {
                let offset = incoming.record.offset;
                match self.process_record(&incoming).await {
                    Ok(Applied::Done) => done += 1,
                    Ok(Applied::DeadLettered) => dead_lettered += 1,
                    Err(err) => {
                        warn!(%partition, offset, error = %cause_chain(&err), "partition stopped; it resumes here");
                        return (done, dead_lettered, Some((partition, offset)));
                    }
                }
            }
            (done, dead_lettered, None)
        }))
        .await;
        let mut outcome = BatchOutcome::default();
        for (done, dead_lettered, stopped) in results {
            outcome.done += done;
            outcome.dead_lettered += dead_lettered;
            outcome.stopped_at.extend(stopped);
        }
        outcome
    }

    /// Applies one record, or dead-letters it if it can never apply. Errors only with what a
    /// retry may fix (including a dead-letter topic that is unavailable).
    #[instrument(skip_all, fields(topic = %incoming.record.topic, partition = incoming.record.partition, offset = incoming.record.offset))]
    pub async fn process_record(&self, incoming: &Incoming) -> Result<Applied, Error> {
        let outcome = match &incoming.defect {
            Some(defect) => Err(Failure::Poison(defect.clone())),
            None => match parse(&incoming.record) {
                Ok(event) => self.apply(&event).await,
                Err(undecodable) => Err(Failure::Poison(undecodable.to_string())),
            },
        };
        match outcome {
            Ok(()) => Ok(Applied::Done),
            Err(Failure::Retry(err)) => Err(err),
            Err(Failure::Poison(reason)) => {
                error!(%reason, "record can never be processed; dead-lettering it");
                self.dead_letters
                    .dead_letter(&incoming.record, &reason)
                    .await?;
                Ok(Applied::DeadLettered)
            }
        }
    }

    /// Applies one event.
    #[instrument(skip_all, fields(order_id = %event.order_id, event_type = %event.event_type))]
    pub async fn apply(&self, event: &OrderEvent) -> Result<(), Failure> {
        match event.event_type {
            EventType::Timeout => self.expire(event).await,
            EventType::Created => {
                self.notify(
                    event,
                    NotificationKind::OrderCreated,
                    "Your order was created.",
                )
                .await
            }
            EventType::Cancelled => {
                self.notify(
                    event,
                    NotificationKind::OrderCancelled,
                    "Your order was cancelled.",
                )
                .await
            }
            EventType::Paid => self.count_sale(event).await,
        }
    }

    pub(crate) async fn order(&self, event: &OrderEvent) -> Result<Order, Failure> {
        let order = self
            .store
            .get_order(&event.order_id)
            .await?
            .ok_or_else(|| Failure::Poison(format!("order {} does not exist", event.order_id)))?;
        if order.user_id != event.user_id {
            return Err(Failure::Poison(format!(
                "order {} belongs to another user than the event names",
                event.order_id
            )));
        }
        Ok(order)
    }

    async fn notify(
        &self,
        event: &OrderEvent,
        kind: NotificationKind,
        message: &str,
    ) -> Result<(), Failure> {
        let at = event.occurred_at.unwrap_or_else(|| self.clock.now());
        let notice = Notification::new(
            event.user_id.clone(),
            event.order_id.clone(),
            kind,
            message,
            at,
        );
        self.store.put_notification(&notice).await?;
        Ok(())
    }

    async fn count_sale(&self, event: &OrderEvent) -> Result<(), Failure> {
        let order = self.order(event).await?;
        if order.status != OrderStatus::Paid {
            return Err(Failure::Poison(format!(
                "order {} is {}, not PAID",
                order.order_id, order.status
            )));
        }
        // The payment time is part of the order, so every delivery counts the sale on the same day.
        self.store.record_sale(&order, order.updated_at).await?;
        Ok(())
    }
}

/// Why a record holds no order event.
#[derive(Debug, thiserror::Error)]
pub enum Undecodable {
    #[error("the record has no value")]
    NoValue,
    #[error("the value is not an order event: {0}")]
    NotAnEvent(#[from] serde_json::Error),
}

/// The event in a record, or why there is none.
pub fn parse(record: &RawRecord) -> Result<OrderEvent, Undecodable> {
    let value = record.value.as_deref().ok_or(Undecodable::NoValue)?;
    Ok(serde_json::from_slice(value)?)
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use orderflow_types::{
        CancelReason, Order, OrderId, OrderLine, Product, ProductId, Quantity, UserId, time,
    };

    use super::*;
    use crate::Dependency;
    use crate::ports::{ConsumerWith, NotificationStore, PageRequest, ProductStore};
    use crate::testing::{FixedClock, InMemoryStore, RecordingDeadLetters};

    type TestConsumer<D = RecordingDeadLetters> =
        EventConsumer<ConsumerWith<InMemoryStore, D, FixedClock>>;

    fn consumer_with<D: DeadLetters + 'static>(dead_letters: D) -> TestConsumer<D> {
        EventConsumer {
            store: InMemoryStore::default(),
            dead_letters,
            clock: FixedClock::at(time::parse("2026-11-25T21:00:00Z").unwrap()),
        }
    }

    async fn consumer() -> TestConsumer {
        let consumer = consumer_with(RecordingDeadLetters::default());
        let product = Product {
            product_id: ProductId::parse("p").unwrap(),
            name: "P".into(),
            price_cents: 100,
            stock: 10,
        };
        consumer.store.put_product(&product).await.unwrap();
        consumer
    }

    async fn place(consumer: &TestConsumer, id: &str) -> Order {
        let at = time::parse("2026-11-25T20:00:00Z").unwrap();
        let line = OrderLine {
            product_id: ProductId::parse("p").unwrap(),
            quantity: Quantity::new(4).unwrap(),
            unit_price_cents: 100,
        };
        let order = Order::new_pending(
            OrderId::parse(id).unwrap(),
            UserId::parse("u").unwrap(),
            vec![line],
            at,
            at,
        );
        consumer.store.place_order(&order).await.unwrap();
        order
    }

    fn event(id: &str, event_type: EventType) -> OrderEvent {
        OrderEvent::new(
            OrderId::parse(id).unwrap(),
            UserId::parse("u").unwrap(),
            event_type,
            time::parse("2026-11-25T20:30:00Z").unwrap(),
        )
    }

    fn record(partition: i64, offset: i64, value: &[u8]) -> Incoming {
        let record = RawRecord {
            topic: "t".into(),
            partition,
            offset,
            key: None,
            value: Some(value.to_vec()),
            headers: vec![],
        };
        Incoming {
            record,
            defect: None,
        }
    }

    fn record_of(partition: i64, offset: i64, event: &OrderEvent) -> Incoming {
        record(partition, offset, &serde_json::to_vec(event).unwrap())
    }

    async fn stock(consumer: &TestConsumer) -> u64 {
        consumer
            .store
            .get_product(&ProductId::parse("p").unwrap())
            .await
            .unwrap()
            .unwrap()
            .stock
    }

    #[tokio::test]
    async fn a_timeout_cancels_a_pending_order_returns_its_stock_and_notifies() {
        let consumer = consumer().await;
        place(&consumer, "o-1").await;
        consumer
            .apply(&event("o-1", EventType::Timeout))
            .await
            .unwrap();
        let order = consumer
            .store
            .get_order(&OrderId::parse("o-1").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (order.status, order.cancel_reason),
            (OrderStatus::Cancelled, Some(CancelReason::PaymentTimeout))
        );
        assert_eq!(stock(&consumer).await, 10);
        let notices = consumer
            .store
            .list_notifications(&order.user_id, &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(notices.items.len(), 1);
        assert_eq!(notices.items[0].kind, NotificationKind::OrderCancelled);
    }

    /// An order whose payment is due at 20:34:05.5, and a consumer whose clock reads `now`.
    async fn due_at_20_34_05_5(now: &str) -> (TestConsumer, Order) {
        let mut consumer = consumer().await;
        consumer.clock = FixedClock::at(time::parse(now).unwrap());
        let at = time::parse("2026-11-25T20:04:05.500Z").unwrap();
        let line = OrderLine {
            product_id: ProductId::parse("p").unwrap(),
            quantity: Quantity::new(4).unwrap(),
            unit_price_cents: 100,
        };
        let order = Order::new_pending(
            OrderId::parse("o-due").unwrap(),
            UserId::parse("u").unwrap(),
            vec![line],
            at,
            time::parse("2026-11-25T20:34:05.500Z").unwrap(),
        );
        consumer.store.place_order(&order).await.unwrap();
        (consumer, order)
    }

    #[tokio::test]
    async fn a_timeout_before_the_deadline_is_dead_lettered_and_the_order_stays_pending() {
        // The Scheduler may fire the 20:34:05 schedule at 20:34:00; something announced it then.
        let (consumer, order) = due_at_20_34_05_5("2026-11-25T20:34:00Z").await;
        let early = record_of(0, 7, &event("o-due", EventType::Timeout));
        assert_eq!(
            consumer.process_record(&early).await.unwrap(),
            Applied::DeadLettered
        );
        let reasons: Vec<String> = consumer
            .dead_letters
            .records()
            .into_iter()
            .map(|(_, reason)| reason)
            .collect();
        assert_eq!(
            reasons,
            [
                "timeout for order o-due arrived 5500 ms before its payment deadline \
                 2026-11-25T20:34:05.500Z, more than the 2 s clock-skew allowance; the order \
                 stays PENDING until its scheduled timeout"
            ]
        );
        let stored = consumer
            .store
            .get_order(&order.order_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, OrderStatus::Pending);
        assert_eq!(stock(&consumer).await, 6, "the order keeps its units");
    }

    #[tokio::test]
    async fn a_timeout_within_the_clock_skew_allowance_cancels_the_order() {
        // 2 s before the deadline by this consumer's clock: the announcer's clock was ahead.
        let (consumer, order) = due_at_20_34_05_5("2026-11-25T20:34:03.500Z").await;
        consumer
            .apply(&event("o-due", EventType::Timeout))
            .await
            .unwrap();
        let stored = consumer
            .store
            .get_order(&order.order_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.status, stored.cancel_reason),
            (OrderStatus::Cancelled, Some(CancelReason::PaymentTimeout))
        );
        assert_eq!(stock(&consumer).await, 10);
    }

    #[tokio::test]
    async fn a_timeout_just_beyond_the_allowance_changes_nothing() {
        let (consumer, order) = due_at_20_34_05_5("2026-11-25T20:34:03.499Z").await;
        match consumer.apply(&event("o-due", EventType::Timeout)).await {
            Err(Failure::Poison(reason)) => {
                assert!(reason.contains("2001 ms before"), "{reason}")
            }
            other => panic!("expected poison, got {other:?}"),
        }
        let stored = consumer
            .store
            .get_order(&order.order_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, OrderStatus::Pending);
    }

    #[tokio::test]
    async fn an_early_timeout_for_a_paid_order_changes_nothing_and_is_not_poison() {
        let (consumer, order) = due_at_20_34_05_5("2026-11-25T20:34:00Z").await;
        consumer
            .store
            .mark_paid(
                &order.order_id,
                time::parse("2026-11-25T20:33:59Z").unwrap(),
            )
            .await
            .unwrap();
        consumer
            .apply(&event("o-due", EventType::Timeout))
            .await
            .unwrap();
        assert_eq!(stock(&consumer).await, 6);
    }

    #[tokio::test]
    async fn a_redelivered_timeout_returns_stock_and_notifies_once() {
        let consumer = consumer().await;
        place(&consumer, "o-1").await;
        for _ in 0..3 {
            consumer
                .apply(&event("o-1", EventType::Timeout))
                .await
                .unwrap();
        }
        assert_eq!(stock(&consumer).await, 10);
        let notices = consumer
            .store
            .list_notifications(&UserId::parse("u").unwrap(), &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(notices.items.len(), 1);
    }

    #[tokio::test]
    async fn a_timeout_leaves_paid_and_customer_cancelled_orders_alone() {
        let consumer = consumer().await;
        let paid = place(&consumer, "o-paid").await;
        consumer
            .store
            .mark_paid(&paid.order_id, paid.created_at)
            .await
            .unwrap();
        let cancelled = place(&consumer, "o-cancelled").await;
        let notice = Notification::new(
            cancelled.user_id.clone(),
            cancelled.order_id.clone(),
            NotificationKind::OrderCancelled,
            "x",
            cancelled.created_at,
        );
        consumer
            .store
            .cancel_order(
                &cancelled,
                CancelReason::Customer,
                &notice,
                cancelled.created_at,
            )
            .await
            .unwrap();
        consumer
            .apply(&event("o-paid", EventType::Timeout))
            .await
            .unwrap();
        consumer
            .apply(&event("o-cancelled", EventType::Timeout))
            .await
            .unwrap();
        assert_eq!(
            stock(&consumer).await,
            6,
            "the paid order keeps its units; the cancelled one returned them once"
        );
    }

    #[tokio::test]
    async fn events_that_can_never_apply_are_poison() {
        let consumer = consumer().await;
        place(&consumer, "o-pending").await;
        let mut stranger = event("o-pending", EventType::Timeout);
        stranger.user_id = UserId::parse("someone-else").unwrap();
        for (event, reason) in [
            (event("o-missing", EventType::Timeout), "does not exist"),
            (event("o-missing", EventType::Paid), "does not exist"),
            (event("o-pending", EventType::Paid), "is PENDING, not PAID"),
            (stranger, "belongs to another user"),
        ] {
            match consumer.apply(&event).await {
                Err(Failure::Poison(message)) => assert!(message.contains(reason), "{message}"),
                other => panic!("{event:?}: expected poison, got {other:?}"),
            }
        }
        assert_eq!(stock(&consumer).await, 6);
    }

    #[tokio::test]
    async fn undecodable_records_are_dead_lettered_with_the_reason() {
        let consumer = consumer().await;
        let mut defective = record(0, 3, b"x");
        defective.defect = Some("the value is not valid base64".into());
        let mut empty = record(0, 4, b"");
        empty.record.value = None;
        for incoming in [
            record(0, 1, b"{oops"),
            record(
                0,
                2,
                br#"{"order_id":"o","user_id":"u","event_type":"refunded"}"#,
            ),
            defective,
            empty,
        ] {
            assert_eq!(
                consumer.process_record(&incoming).await.unwrap(),
                Applied::DeadLettered
            );
        }
        let reasons: Vec<String> = consumer
            .dead_letters
            .records()
            .into_iter()
            .map(|(_, reason)| reason)
            .collect();
        assert!(
            reasons[0].starts_with("the value is not an order event"),
            "{reasons:?}"
        );
        assert!(
            reasons[1].contains("unknown variant `refunded`"),
            "{reasons:?}"
        );
        assert_eq!(reasons[2], "the value is not valid base64");
        assert_eq!(reasons[3], "the record has no value");
    }

    #[test]
    fn only_data_errors_are_poison() {
        let poison = |error| matches!(Failure::from(error), Failure::Poison(_));
        assert!(poison(Error::NotFound {
            resource: crate::Resource::Order,
            id: "o".into()
        }));
        assert!(poison(Error::InvalidData {
            kind: "order",
            detail: "x".into()
        }));
        assert!(!poison(Error::Unavailable {
            dependency: Dependency::DynamoDb,
            action: "a",
            source: "down".into()
        }));
        assert!(!poison(Error::Rejected {
            dependency: Dependency::DynamoDb,
            action: "a",
            source: "denied".into()
        }));
    }

    /// A dead-letter topic that is down.
    struct UnavailableDeadLetters;

    impl DeadLetters for UnavailableDeadLetters {
        async fn dead_letter(&self, _: &RawRecord, _: &str) -> crate::Result<()> {
            Err(Error::Unavailable {
                dependency: Dependency::Kafka,
                action: "dead-letter",
                source: "down".into(),
            })
        }
    }

    #[tokio::test]
    async fn a_partition_stops_at_its_first_failure_and_the_others_go_on() {
        let consumer = consumer_with(UnavailableDeadLetters);
        let created = |id: &str| event(id, EventType::Created);
        let outcome = consumer
            .process_batch(vec![
                (
                    "t-0".into(),
                    vec![
                        record_of(0, 10, &created("a")),
                        record(0, 11, b"poison"),
                        record_of(0, 12, &created("b")),
                    ],
                ),
                (
                    "t-1".into(),
                    vec![
                        record_of(1, 20, &created("c")),
                        record_of(1, 21, &created("d")),
                    ],
                ),
            ])
            .await;
        assert_eq!(outcome.stopped_at, [("t-0".to_string(), 11)]);
        assert_eq!((outcome.done, outcome.dead_lettered), (3, 0));
        let notices = consumer
            .store
            .list_notifications(&UserId::parse("u").unwrap(), &PageRequest::default())
            .await
            .unwrap();
        let mut notified: Vec<String> = notices
            .items
            .iter()
            .map(|n| n.order_id.to_string())
            .collect();
        notified.sort();
        assert_eq!(
            notified,
            ["a", "c", "d"],
            "nothing after the failed record in its partition"
        );
    }
}
