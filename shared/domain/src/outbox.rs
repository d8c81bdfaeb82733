//! Order events derived from the orders table's changes: the transactional outbox.
//!
//! Nothing that changes an order publishes its event. The orders table has a stream
//! (`NEW_AND_OLD_IMAGES`), and order-stream, which a DynamoDB Streams event source mapping invokes
//! with the stream's records, publishes one event per status transition. A change DynamoDB
//! acknowledged is in the stream, so its event follows whether or not the broker was up when the
//! change was made, and whether or not the caller that made it retries.
//!
//! | change in the table | event | `occurred_at` |
//! |---|---|---|
//! | a PENDING order inserted | `created` | the order's `created_at` |
//! | PENDING → PAID | `paid` | the new `updated_at` |
//! | PENDING → CANCELLED (by its owner, or at its payment deadline) | `cancelled` | the new `updated_at` |
//! | anything else: a removal, a write that keeps the status, an order inserted as PAID or CANCELLED | none | |
//!
//! An order leaves PENDING once and enters it only when it is created, so each transition happens
//! at most once per order and [`event_id`] names its event deterministically:
//! `<order id>.<event type>`. A record delivered again publishes the same event with the same id,
//! and the consumer applies an order's event of a type once (its effects are keyed by order), so
//! a duplicate on the topic changes nothing.
//!
//! ## Batches, order and failures
//!
//! DynamoDB Streams keeps the changes of one item in order, in one shard, and the event source
//! mapping hands the function a batch of one shard's records in that order. [`announce_changes`]
//! keeps it per order: one order's records are published one after the other in batch order, and
//! the first that fails ends its order's chain (nothing after it for that order is attempted), so
//! no event ever overtakes an earlier event of its order. Different orders are independent, so
//! their chains run concurrently.
//!
//! A record that does not decode (an image that is no order) is a failure like a failed publish:
//! it is logged with its reason and reported, never skipped. Retrying cannot fix it, so the shard
//! waits at it until the mapping's retries are spent (bisecting the batch, if configured, to
//! isolate it); then the mapping sends the record's description to its on-failure destination and
//! moves on.
//!
//! The function reports only the earliest failed record of the batch (see
//! [`Announced::earliest_failure`]). Lambda keeps one checkpoint per shard: it resumes at the
//! lowest sequence number reported and delivers every record after it again, also those of other
//! orders that were published in this invocation. They are published again with the same event
//! ids, which the consumer applies once. Reporting more records would change nothing, since
//! Lambda uses the lowest one anyway; reporting a later one would skip the earliest.

use std::collections::BTreeMap;

use futures::future::join_all;
use orderflow_types::{EventId, EventType, Order, OrderEvent, OrderId, OrderStatus};
use tracing::{debug, error, info, instrument, warn};

use crate::error::{Error, Result, cause_chain};
use crate::ports::EventPublisher;

/// An order item as one write left it, from one stream record: the table's images, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderChange {
    /// A new item (the stream's `INSERT`).
    Inserted(Order),
    /// An item written over (`MODIFY`): as it was, and as it is.
    Modified { old: Order, new: Order },
    /// A deleted item (`REMOVE`), as it was.
    Removed(Order),
}

impl OrderChange {
    /// The order the change is about.
    pub fn order_id(&self) -> &OrderId {
        match self {
            Self::Inserted(order) | Self::Removed(order) | Self::Modified { new: order, .. } => {
                &order.order_id
            }
        }
    }
}

/// The id of `order`'s event of `event_type`: `<order id>.<event type>`, the same on every
/// delivery of the change (see the module's documentation).
pub fn event_id(order: &OrderId, event_type: EventType) -> Result<EventId> {
    // An order id has at most 48 characters and the longest event type 9, so the id fits the 64
    // an event id may have; a failure here is an order id that skipped its validation.
    EventId::parse(format!("{order}.{event_type}")).map_err(|err| {
        Error::Validation(format!(
            "order {order} has no valid id for its {event_type} event: {err}"
        ))
    })
}

/// The event that `change` announces, if it is a status transition (the table in the module's
/// documentation); `None` for any other change.
pub fn event_for(change: &OrderChange) -> Result<Option<OrderEvent>> {
    use OrderStatus::{Cancelled, Paid, Pending};
    let (order, event_type, occurred_at) = match change {
        OrderChange::Inserted(order) if order.status == Pending => {
            (order, EventType::Created, order.created_at)
        }
        OrderChange::Modified { old, new } => match (old.status, new.status) {
            (Pending, Paid) => (new, EventType::Paid, new.updated_at),
            (Pending, Cancelled) => (new, EventType::Cancelled, new.updated_at),
            _ => return Ok(None),
        },
        OrderChange::Inserted(_) | OrderChange::Removed(_) => return Ok(None),
    };
    Ok(Some(OrderEvent {
        order_id: order.order_id.clone(),
        user_id: order.user_id.clone(),
        event_type,
        event_id: Some(event_id(&order.order_id, event_type)?),
        occurred_at: Some(occurred_at),
    }))
}

/// One record of a stream batch, as the function hands it over.
#[derive(Debug)]
pub struct ChangeRecord {
    /// How the batch response names the record: its stream sequence number.
    pub id: String,
    /// The change the record carries, or why it could not be read.
    pub change: std::result::Result<OrderChange, Undecodable>,
}

/// A stream record whose change could not be read.
#[derive(Debug)]
pub struct Undecodable {
    /// The order the record is about, from the table key, if even that could be read. A record
    /// without it could belong to any order, so every record after it in the batch waits for the
    /// redelivery.
    pub order_id: Option<OrderId>,
    /// What is wrong with the record.
    pub error: Error,
}

/// What [`announce_changes`] did with a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Announced {
    /// Events published (acknowledged by the broker).
    pub published: usize,
    /// Records that are no status transition: nothing to publish.
    pub unchanged: usize,
    /// Records not attempted because an earlier record of their order failed.
    pub held_back: usize,
    /// The ids of the records that failed, in batch order: at most one per order, plus a record
    /// whose order could not be read.
    pub failed: Vec<String>,
}

impl Announced {
    /// The record the batch response reports: the failure earliest in the batch, where Lambda
    /// resumes the shard. `None` when every record is done.
    pub fn earliest_failure(&self) -> Option<&str> {
        self.failed.first().map(String::as_str)
    }
}

/// Publishes the event of every status transition in `records`, one batch of a shard in stream
/// order: each order's records one after the other, different orders concurrently. A failed
/// record ends its order's chain. Never fails as a whole: the outcome names the failed records
/// (see the module's documentation for what the function reports and why).
#[instrument(skip_all, fields(records = records.len()))]
pub async fn announce_changes<P: EventPublisher>(
    publisher: &P,
    records: Vec<ChangeRecord>,
) -> Announced {
    let mut outcome = Announced::default();
    let mut failed = Vec::new();
    let mut chains: BTreeMap<OrderId, Vec<(usize, ChangeRecord)>> = BTreeMap::new();
    let mut records = records.into_iter().enumerate();
    for (position, record) in records.by_ref() {
        let order_id = match &record.change {
            Ok(change) => change.order_id(),
            Err(undecodable) => match &undecodable.order_id {
                Some(order_id) => order_id,
                None => {
                    error!(
                        record_id = %record.id,
                        reason = %cause_chain(&undecodable.error),
                        "stream record names no order it is about; it and every record after it \
                         are left for the redelivery"
                    );
                    failed.push((position, record.id));
                    break;
                }
            },
        };
        chains
            .entry(order_id.clone())
            .or_default()
            .push((position, record));
    }
    outcome.held_back += records.count();

    let chains = chains
        .into_iter()
        .map(|(order_id, chain)| announce_chain(publisher, order_id, chain));
    for chain in join_all(chains).await {
        outcome.published += chain.published;
        outcome.unchanged += chain.unchanged;
        outcome.held_back += chain.held_back;
        failed.extend(chain.failed);
    }
    failed.sort_by_key(|(position, _)| *position);
    outcome.failed = failed.into_iter().map(|(_, id)| id).collect();
    outcome
}

/// What one order's chain did.
#[derive(Default)]
struct ChainOutcome {
    published: usize,
    unchanged: usize,
    held_back: usize,
    /// The failed record, with its position in the batch.
    failed: Option<(usize, String)>,
}

/// One order's records, in batch order, until the first that fails.
#[instrument(skip_all, fields(order_id = %order_id))]
async fn announce_chain<P: EventPublisher>(
    publisher: &P,
    order_id: OrderId,
    chain: Vec<(usize, ChangeRecord)>,
) -> ChainOutcome {
    let mut outcome = ChainOutcome::default();
    let mut chain = chain.into_iter();
    for (position, record) in chain.by_ref() {
        match announce(publisher, &record).await {
            Step::Published => outcome.published += 1,
            Step::Unchanged => outcome.unchanged += 1,
            Step::Failed => {
                outcome.failed = Some((position, record.id));
                break;
            }
        }
    }
    outcome.held_back = chain.count();
    if outcome.held_back > 0 {
        warn!(
            held_back = outcome.held_back,
            "later changes of the order wait for the redelivery"
        );
    }
    outcome
}

/// What became of one record.
enum Step {
    Published,
    /// No status transition: nothing to publish.
    Unchanged,
    /// Logged where it failed, with its reason.
    Failed,
}

/// Publishes the event of one record, if it has one.
async fn announce<P: EventPublisher>(publisher: &P, record: &ChangeRecord) -> Step {
    let record_id = record.id.as_str();
    let change = match &record.change {
        Ok(change) => change,
        Err(undecodable) => {
            error!(
                record_id,
                reason = %cause_chain(&undecodable.error),
                "stream record does not decode; reported for the retries and the on-failure destination"
            );
            return Step::Failed;
        }
    };
    let event = match event_for(change) {
        Ok(Some(event)) => event,
        Ok(None) => {
            debug!(record_id, "no status transition; nothing to announce");
            return Step::Unchanged;
        }
        Err(err) => {
            error!(record_id, reason = %cause_chain(&err), "no event can be made of the change");
            return Step::Failed;
        }
    };
    match publisher.publish(&event).await {
        Ok(()) => {
            info!(
                record_id,
                event_type = %event.event_type,
                event_id = event.event_id.as_ref().map(EventId::as_str),
                "order event published"
            );
            Step::Published
        }
        Err(err) if err.is_retryable() => {
            warn!(record_id, event_type = %event.event_type, error = %cause_chain(&err), "order event not published; the redelivery retries it");
            Step::Failed
        }
        Err(err) => {
            error!(record_id, event_type = %event.event_type, error = %cause_chain(&err), "order event refused; the redelivery retries it");
            Step::Failed
        }
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use orderflow_types::{CancelReason, OrderLine, ProductId, Quantity, Timestamp, UserId, time};
    use serde_json::json;

    use super::*;
    use crate::error::Dependency;
    use crate::testing::RecordingPublisher;

    fn at(text: &str) -> Timestamp {
        time::parse(text).unwrap()
    }

    /// A PENDING order placed at 20:00, due at 20:30.
    fn pending(id: &str) -> Order {
        let line = OrderLine {
            product_id: ProductId::parse("sku-1").unwrap(),
            quantity: Quantity::new(2).unwrap(),
            unit_price_cents: 450,
        };
        Order::new_pending(
            OrderId::parse(id).unwrap(),
            UserId::parse("auth0|u-1").unwrap(),
            vec![line],
            at("2026-11-25T20:00:00.125Z"),
            at("2026-11-25T20:30:00.125Z"),
        )
    }

    fn paid(id: &str) -> Order {
        Order {
            status: OrderStatus::Paid,
            updated_at: at("2026-11-25T20:07:00.250Z"),
            ..pending(id)
        }
    }

    fn cancelled(id: &str, reason: CancelReason) -> Order {
        Order {
            status: OrderStatus::Cancelled,
            cancel_reason: Some(reason),
            updated_at: at("2026-11-25T20:30:01.500Z"),
            ..pending(id)
        }
    }

    fn modified(old: Order, new: Order) -> OrderChange {
        OrderChange::Modified { old, new }
    }

    fn record(id: &str, change: OrderChange) -> ChangeRecord {
        ChangeRecord {
            id: id.into(),
            change: Ok(change),
        }
    }

    fn undecodable(id: &str, order_id: Option<&str>) -> ChangeRecord {
        ChangeRecord {
            id: id.into(),
            change: Err(Undecodable {
                order_id: order_id.map(|id| OrderId::parse(id).unwrap()),
                error: Error::invalid_data("order", "attribute status is invalid"),
            }),
        }
    }

    fn ids(events: &[OrderEvent]) -> Vec<String> {
        events
            .iter()
            .map(|event| event.event_id.as_ref().unwrap().to_string())
            .collect()
    }

    /// Publishes through a recorder, except the events it was told to fail; notes every attempt.
    #[derive(Default)]
    struct FailingFor {
        failing: Vec<&'static str>,
        attempts: Mutex<Vec<String>>,
        published: RecordingPublisher,
    }

    impl FailingFor {
        fn new(failing: &[&'static str]) -> Self {
            Self {
                failing: failing.to_vec(),
                ..Self::default()
            }
        }

        fn attempts(&self) -> Vec<String> {
            self.attempts.lock().unwrap().clone()
        }
    }

    impl EventPublisher for FailingFor {
        async fn publish(&self, event: &OrderEvent) -> Result<()> {
            let id = event.event_id.as_ref().unwrap().to_string();
            self.attempts.lock().unwrap().push(id.clone());
            if self.failing.contains(&id.as_str()) {
                return Err(Error::Unavailable {
                    dependency: Dependency::Kafka,
                    action: "publish an event",
                    source: "broker down".into(),
                });
            }
            self.published.publish(event).await
        }
    }

    #[test]
    fn an_inserted_pending_order_is_announced_as_created_when_it_was_created() {
        let event = event_for(&OrderChange::Inserted(pending("o-1")))
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({
                "order_id": "o-1",
                "user_id": "auth0|u-1",
                "event_type": "created",
                "event_id": "o-1.created",
                "occurred_at": "2026-11-25T20:00:00.125Z",
            })
        );
    }

    #[test]
    fn a_payment_is_announced_as_paid_when_the_order_changed() {
        let event = event_for(&modified(pending("o-1"), paid("o-1")))
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({
                "order_id": "o-1",
                "user_id": "auth0|u-1",
                "event_type": "paid",
                "event_id": "o-1.paid",
                "occurred_at": "2026-11-25T20:07:00.250Z",
            })
        );
    }

    #[test]
    fn a_cancellation_by_the_customer_or_at_the_deadline_is_announced_as_cancelled() {
        for reason in [CancelReason::Customer, CancelReason::PaymentTimeout] {
            let event = event_for(&modified(pending("o-1"), cancelled("o-1", reason)))
                .unwrap()
                .unwrap();
            assert_eq!(
                serde_json::to_value(&event).unwrap(),
                json!({
                    "order_id": "o-1",
                    "user_id": "auth0|u-1",
                    "event_type": "cancelled",
                    "event_id": "o-1.cancelled",
                    "occurred_at": "2026-11-25T20:30:01.500Z",
                }),
                "{reason:?}"
            );
        }
    }

    #[test]
    fn changes_that_are_no_status_transition_announce_nothing() {
        let timed_out = || cancelled("o-1", CancelReason::PaymentTimeout);
        let rewritten = Order {
            updated_at: at("2026-11-25T20:01:00Z"),
            ..pending("o-1")
        };
        for change in [
            OrderChange::Removed(pending("o-1")),
            OrderChange::Removed(paid("o-1")),
            OrderChange::Inserted(paid("o-1")),
            OrderChange::Inserted(timed_out()),
            modified(pending("o-1"), rewritten),
            modified(paid("o-1"), paid("o-1")),
            modified(timed_out(), timed_out()),
            modified(paid("o-1"), timed_out()),
            modified(timed_out(), paid("o-1")),
            modified(paid("o-1"), pending("o-1")),
            modified(timed_out(), pending("o-1")),
        ] {
            assert_eq!(event_for(&change).unwrap(), None, "{change:?}");
        }
    }

    #[test]
    fn event_ids_are_the_order_and_the_event_type_on_every_delivery() {
        let change = modified(pending("o-1"), paid("o-1"));
        let first = event_for(&change).unwrap().unwrap();
        let again = event_for(&change.clone()).unwrap().unwrap();
        assert_eq!(first, again, "the same change, the same event");
        let longest = "a".repeat(48);
        let id = event_id(&OrderId::parse(&longest).unwrap(), EventType::Cancelled).unwrap();
        assert_eq!(id.as_str(), format!("{longest}.cancelled"));
        assert_eq!(
            event_id(
                &OrderId::parse("1732565045123").unwrap(),
                EventType::Created
            )
            .unwrap()
            .as_str(),
            "1732565045123.created"
        );
    }

    #[tokio::test]
    async fn a_batch_announces_each_transition_once_and_counts_the_rest() {
        let publisher = RecordingPublisher::default();
        let announced = announce_changes(
            &publisher,
            vec![
                record("1", OrderChange::Inserted(pending("o-1"))),
                record("2", modified(pending("o-1"), pending("o-1"))),
                record("3", modified(pending("o-1"), paid("o-1"))),
                record("4", OrderChange::Removed(paid("o-1"))),
            ],
        )
        .await;
        assert_eq!(
            announced,
            Announced {
                published: 2,
                unchanged: 2,
                held_back: 0,
                failed: vec![],
            }
        );
        assert_eq!(announced.earliest_failure(), None);
        assert_eq!(ids(&publisher.events()), ["o-1.created", "o-1.paid"]);
    }

    #[tokio::test]
    async fn an_orders_events_are_published_in_batch_order() {
        let publisher = RecordingPublisher::default();
        let timed_out = cancelled("o-2", CancelReason::PaymentTimeout);
        announce_changes(
            &publisher,
            vec![
                record("1", OrderChange::Inserted(pending("o-1"))),
                record("2", OrderChange::Inserted(pending("o-2"))),
                record("3", modified(pending("o-1"), paid("o-1"))),
                record("4", modified(pending("o-2"), timed_out)),
            ],
        )
        .await;
        let mut per_order: HashMap<String, Vec<String>> = HashMap::new();
        for event in publisher.events() {
            per_order
                .entry(event.order_id.to_string())
                .or_default()
                .push(event.event_type.to_string());
        }
        assert_eq!(per_order["o-1"], ["created", "paid"]);
        assert_eq!(per_order["o-2"], ["created", "cancelled"]);
    }

    #[tokio::test]
    async fn a_failure_ends_its_orders_chain_and_other_orders_go_on() {
        let publisher = FailingFor::new(&["o-1.created"]);
        let announced = announce_changes(
            &publisher,
            vec![
                record("1", OrderChange::Inserted(pending("o-1"))),
                record("2", OrderChange::Inserted(pending("o-2"))),
                record("3", modified(pending("o-1"), paid("o-1"))),
                record("4", modified(pending("o-2"), paid("o-2"))),
            ],
        )
        .await;
        assert_eq!(
            announced,
            Announced {
                published: 2,
                unchanged: 0,
                held_back: 1,
                failed: vec!["1".into()],
            }
        );
        assert!(
            !publisher.attempts().contains(&"o-1.paid".to_string()),
            "nothing after the failure is attempted for its order: {:?}",
            publisher.attempts()
        );
        assert_eq!(
            ids(&publisher.published.events()),
            ["o-2.created", "o-2.paid"]
        );
    }

    #[tokio::test]
    async fn the_earliest_failure_in_the_batch_is_reported_whatever_order_it_belongs_to() {
        // `o-b` sorts after `o-a` but fails earlier in the batch.
        let publisher = FailingFor::new(&["o-b.created", "o-a.paid"]);
        let announced = announce_changes(
            &publisher,
            vec![
                record("1", OrderChange::Inserted(pending("o-a"))),
                record("2", OrderChange::Inserted(pending("o-b"))),
                record("3", modified(pending("o-a"), paid("o-a"))),
                record("4", modified(pending("o-b"), paid("o-b"))),
            ],
        )
        .await;
        assert_eq!(announced.failed, ["2", "3"]);
        assert_eq!(announced.earliest_failure(), Some("2"));
        assert_eq!(
            (announced.published, announced.held_back),
            (1, 1),
            "o-a's creation published, o-b's payment held back"
        );
    }

    #[tokio::test]
    async fn an_undecodable_record_fails_and_ends_its_orders_chain() {
        let publisher = RecordingPublisher::default();
        let announced = announce_changes(
            &publisher,
            vec![
                record("1", OrderChange::Inserted(pending("o-1"))),
                undecodable("2", Some("o-2")),
                record("3", modified(pending("o-2"), paid("o-2"))),
                record("4", modified(pending("o-1"), paid("o-1"))),
            ],
        )
        .await;
        assert_eq!(
            announced,
            Announced {
                published: 2,
                unchanged: 0,
                held_back: 1,
                failed: vec!["2".into()],
            }
        );
        assert_eq!(ids(&publisher.events()), ["o-1.created", "o-1.paid"]);
    }

    #[tokio::test]
    async fn a_record_of_no_known_order_holds_back_every_record_after_it() {
        let publisher = RecordingPublisher::default();
        let announced = announce_changes(
            &publisher,
            vec![
                record("1", OrderChange::Inserted(pending("o-1"))),
                undecodable("2", None),
                record("3", modified(pending("o-1"), paid("o-1"))),
                record("4", OrderChange::Inserted(pending("o-2"))),
            ],
        )
        .await;
        assert_eq!(
            announced,
            Announced {
                published: 1,
                unchanged: 0,
                held_back: 2,
                failed: vec!["2".into()],
            }
        );
        assert_eq!(ids(&publisher.events()), ["o-1.created"]);
    }

    #[tokio::test]
    async fn failures_are_listed_in_batch_order_and_the_first_is_reported() {
        let publisher = FailingFor::new(&["o-3.created"]);
        let announced = announce_changes(
            &publisher,
            vec![
                undecodable("1", Some("o-2")),
                record("2", OrderChange::Inserted(pending("o-3"))),
                undecodable("3", None),
                record("4", OrderChange::Inserted(pending("o-1"))),
            ],
        )
        .await;
        assert_eq!(announced.failed, ["1", "2", "3"]);
        assert_eq!(announced.earliest_failure(), Some("1"));
        assert!(publisher.published.events().is_empty());
    }

    #[tokio::test]
    async fn a_redelivered_batch_publishes_the_same_events_with_the_same_ids() {
        let batch = || {
            vec![
                record("1", OrderChange::Inserted(pending("o-1"))),
                record("2", modified(pending("o-1"), paid("o-1"))),
                record(
                    "3",
                    modified(pending("o-2"), cancelled("o-2", CancelReason::Customer)),
                ),
            ]
        };
        let first = RecordingPublisher::default();
        let again = RecordingPublisher::default();
        announce_changes(&first, batch()).await;
        announce_changes(&again, batch()).await;
        let sorted = |publisher: &RecordingPublisher| {
            let mut events = publisher.events();
            events.sort_by_key(|event| event.event_id.clone());
            events
        };
        assert_eq!(sorted(&first), sorted(&again));
        assert_eq!(
            ids(&sorted(&first)),
            ["o-1.created", "o-1.paid", "o-2.cancelled"]
        );
    }

    /// Holds every publish until `parties` publishes wait together: publishes that are not
    /// concurrent never get past it.
    struct Rendezvous(tokio::sync::Barrier);

    impl EventPublisher for Rendezvous {
        async fn publish(&self, _event: &OrderEvent) -> Result<()> {
            self.0.wait().await;
            Ok(())
        }
    }

    #[tokio::test]
    async fn different_orders_are_published_concurrently() {
        let publisher = Rendezvous(tokio::sync::Barrier::new(3));
        let batch = vec![
            record("1", OrderChange::Inserted(pending("o-1"))),
            record("2", OrderChange::Inserted(pending("o-2"))),
            record("3", OrderChange::Inserted(pending("o-3"))),
        ];
        let announced =
            tokio::time::timeout(Duration::from_secs(5), announce_changes(&publisher, batch))
                .await
                .expect("the three orders' events were in flight together");
        assert_eq!(announced.published, 3);
    }

    /// Notes how many publishes of each order are in flight at once, at most.
    #[derive(Default)]
    struct InFlight {
        now: Mutex<HashMap<OrderId, usize>>,
        most: Mutex<HashMap<OrderId, usize>>,
    }

    impl EventPublisher for InFlight {
        async fn publish(&self, event: &OrderEvent) -> Result<()> {
            let order = event.order_id.clone();
            {
                let mut now = self.now.lock().unwrap();
                let count = now.entry(order.clone()).or_default();
                *count += 1;
                let mut most = self.most.lock().unwrap();
                let highest = most.entry(order.clone()).or_default();
                *highest = (*highest).max(*count);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            *self.now.lock().unwrap().entry(order).or_default() -= 1;
            Ok(())
        }
    }

    #[tokio::test]
    async fn one_orders_events_are_published_one_at_a_time() {
        let publisher = InFlight::default();
        let announced = announce_changes(
            &publisher,
            vec![
                record("1", OrderChange::Inserted(pending("o-1"))),
                record("2", OrderChange::Inserted(pending("o-2"))),
                record("3", modified(pending("o-1"), paid("o-1"))),
                record("4", modified(pending("o-2"), paid("o-2"))),
            ],
        )
        .await;
        assert_eq!(announced.published, 4);
        let most = publisher.most.lock().unwrap().clone();
        assert_eq!(
            most,
            HashMap::from([
                (OrderId::parse("o-1").unwrap(), 1),
                (OrderId::parse("o-2").unwrap(), 1),
            ])
        );
    }
}
