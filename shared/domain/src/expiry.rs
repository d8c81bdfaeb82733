//! Payment expiry, both halves: an unpaid order is cancelled when its payment deadline passes.
//!
//! 1. order-timeout, invoked by the order's one-time schedule, calls [`announce_timeout`]: the
//!    deadline is announced on the event stream as a `timeout` event. It needs no database read
//!    and cannot race a payment.
//! 2. order-events hands the `timeout` event to [`EventConsumer::expire`]: a still-PENDING order
//!    is cancelled, its stock returned and its user notified in one transaction, a change that
//!    order-stream announces as `cancelled`. A paid or customer-cancelled order is left alone, so
//!    the race between a payment and its deadline is decided by one conditional write.
//!
//! The announcement is never made before the deadline. EventBridge Scheduler fires a one-time
//! schedule with one minute of precision: a schedule at 20:34:05 may run at any time from 20:34:00
//! on, before the customer's deadline. So the deadline is checked here, against the clock, and an
//! early invocation publishes nothing; its caller decides whether to wait or to fail and be
//! retried (order-timeout does either, see its handler).

use std::time::Duration;

use chrono::TimeDelta;
use orderflow_types::{
    CancelReason, EventType, Notification, NotificationKind, OrderEvent, OrderStatus,
    PaymentTimeout,
};
use tracing::{info, instrument};

use crate::consumer::{EventConsumer, Failure};
use crate::error::Result;
use crate::metrics::{self, Metric};
use crate::ports::{Clock, ConsumerPorts, EventPublisher, IdSource, OrderStore, Transition};

/// How far before an order's payment deadline a `timeout` is still applied. order-timeout
/// announces a timeout only once the deadline has passed by its own clock; the consumer runs on
/// other hosts, whose clocks may be behind by a little (Lambda's are kept by Amazon Time Sync,
/// well under a millisecond apart). Refusing an on-time announcement over such a difference would
/// strand the order, since nothing announces it again; anything earlier than this is not an
/// on-time announcement.
pub const CLOCK_SKEW_ALLOWANCE: TimeDelta = TimeDelta::seconds(2);

/// The notification of an order cancelled at its payment deadline.
pub(crate) const TIMED_OUT_MESSAGE: &str = "Your order was cancelled: it was not paid in time.";

/// What [`announce_timeout`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// The deadline had passed: the `timeout` event is on the stream.
    Published(OrderEvent),
    /// The deadline is `remaining` away: nothing was published.
    NotYetDue { remaining: Duration },
}

/// Publishes the `timeout` event for `timeout`'s order once its payment deadline has passed, and
/// returns it once the broker has it. Before the deadline it publishes nothing and says how long
/// is left.
#[instrument(skip_all, fields(order_id = %timeout.order_id))]
pub async fn announce_timeout(
    publisher: &impl EventPublisher,
    clock: &impl Clock,
    ids: &impl IdSource,
    timeout: &PaymentTimeout,
) -> Result<Announcement> {
    let now = clock.now();
    if now < timeout.payment_due_at {
        // Positive by the comparison above; `to_std` only fails for negative spans.
        let remaining = (timeout.payment_due_at - now)
            .to_std()
            .unwrap_or(Duration::ZERO);
        info!(payment_due_at = %timeout.payment_due_at, remaining_ms = remaining.as_millis() as u64, "payment not yet due; timeout not announced");
        return Ok(Announcement::NotYetDue { remaining });
    }
    let event = OrderEvent {
        order_id: timeout.order_id.clone(),
        user_id: timeout.user_id.clone(),
        event_type: EventType::Timeout,
        event_id: Some(ids.event_id()),
        occurred_at: Some(now),
    };
    publisher.publish(&event).await?;
    info!(payment_due_at = %timeout.payment_due_at, "payment timeout announced");
    Ok(Announcement::Published(event))
}

impl<P: ConsumerPorts> EventConsumer<P> {
    /// Applies a `timeout` event: a PENDING order whose deadline has passed is cancelled, its
    /// stock returned and its user notified in one transaction. A paid or customer-cancelled
    /// order, or one this timeout cancelled before (a redelivery), is left as it is; a timeout
    /// more than [`CLOCK_SKEW_ALLOWANCE`] before the deadline is poison.
    pub(crate) async fn expire(&self, event: &OrderEvent) -> std::result::Result<(), Failure> {
        let order = self.order(event).await?;
        let now = self.clock.now();
        let notice = Notification::new(
            order.user_id.clone(),
            order.order_id.clone(),
            NotificationKind::OrderCancelled,
            TIMED_OUT_MESSAGE,
            now,
        );
        match order.status {
            OrderStatus::Pending if now < order.payment_due_at - CLOCK_SKEW_ALLOWANCE => {
                Err(Failure::Poison(format!(
                    "timeout for order {} arrived {} ms before its payment deadline {}, more than \
                     the {} s clock-skew allowance; the order stays PENDING until its scheduled \
                     timeout",
                    order.order_id,
                    (order.payment_due_at - now).num_milliseconds(),
                    orderflow_types::time::format(&order.payment_due_at),
                    CLOCK_SKEW_ALLOWANCE.num_seconds()
                )))
            }
            OrderStatus::Pending => {
                match self
                    .store
                    .cancel_order(&order, CancelReason::PaymentTimeout, &notice, now)
                    .await?
                {
                    Transition::Applied(_) => {
                        info!("unpaid order cancelled and its stock returned");
                        metrics::count(Metric::PaymentTimeoutsApplied);
                    }
                    Transition::NotPending(current) => {
                        info!(status = %current.status, "order left PENDING meanwhile; timeout changes nothing");
                    }
                }
                Ok(())
            }
            status => {
                info!(%status, "order is no longer pending; timeout changes nothing");
                Ok(())
            }
        }
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use orderflow_types::{OrderId, UserId, time};

    use super::*;
    use crate::testing::{FixedClock, RecordingPublisher, SequentialIds};

    fn timeout_due_at(due: &str) -> PaymentTimeout {
        PaymentTimeout {
            order_id: OrderId::parse("o-1").unwrap(),
            user_id: UserId::parse("u-1").unwrap(),
            payment_due_at: time::parse(due).unwrap(),
        }
    }

    #[tokio::test]
    async fn a_timeout_is_published_for_the_order_and_user() {
        let publisher = RecordingPublisher::default();
        let now = time::parse("2026-11-25T20:34:06Z").unwrap();
        let timeout = timeout_due_at("2026-11-25T20:34:05.123Z");
        let announced = announce_timeout(
            &publisher,
            &FixedClock::at(now),
            &SequentialIds::default(),
            &timeout,
        )
        .await
        .unwrap();
        let Announcement::Published(event) = announced else {
            panic!("expected a published timeout, got {announced:?}");
        };
        assert_eq!(publisher.events(), std::slice::from_ref(&event));
        assert_eq!(
            (event.order_id.as_str(), event.user_id.as_str()),
            ("o-1", "u-1")
        );
        assert_eq!(event.event_type, EventType::Timeout);
        assert_eq!(
            (event.event_id.unwrap().as_str(), event.occurred_at),
            ("event-1", Some(now))
        );
    }

    #[tokio::test]
    async fn a_timeout_is_published_at_its_deadline_exactly() {
        let publisher = RecordingPublisher::default();
        let clock = FixedClock::at(time::parse("2026-11-25T20:34:05.123Z").unwrap());
        let announced = announce_timeout(
            &publisher,
            &clock,
            &SequentialIds::default(),
            &timeout_due_at("2026-11-25T20:34:05.123Z"),
        )
        .await
        .unwrap();
        assert!(
            matches!(announced, Announcement::Published(_)),
            "{announced:?}"
        );
        assert_eq!(publisher.events().len(), 1);
    }

    #[tokio::test]
    async fn a_timeout_before_its_deadline_publishes_nothing_and_says_how_long_is_left() {
        let publisher = RecordingPublisher::default();
        // The Scheduler ran the 20:34:05.123 schedule at the start of its minute.
        let clock = FixedClock::at(time::parse("2026-11-25T20:34:00Z").unwrap());
        let timeout = timeout_due_at("2026-11-25T20:34:05.123Z");
        let ids = SequentialIds::default();
        let announced = announce_timeout(&publisher, &clock, &ids, &timeout)
            .await
            .unwrap();
        assert_eq!(
            announced,
            Announcement::NotYetDue {
                remaining: Duration::from_millis(5_123)
            }
        );
        // One millisecond before the deadline is still early.
        clock.advance(chrono::TimeDelta::milliseconds(5_122));
        let announced = announce_timeout(&publisher, &clock, &ids, &timeout)
            .await
            .unwrap();
        assert_eq!(
            announced,
            Announcement::NotYetDue {
                remaining: Duration::from_millis(1)
            }
        );
        assert!(publisher.events().is_empty());
    }
}
