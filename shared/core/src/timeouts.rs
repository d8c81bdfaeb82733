//! A payment deadline passed: announce it on the event stream. The order-events consumer decides
//! what it means for the order (cancel it if it is still PENDING, nothing otherwise), so this step
//! needs no database read and cannot race a payment.
//!
//! The announcement is never made before the deadline. EventBridge Scheduler fires a one-time
//! schedule with one minute of precision: a schedule at 20:34:05 may run at any time from 20:34:00
//! on, before the customer's deadline. So the deadline is checked here, against the clock, and an
//! early invocation publishes nothing; its caller decides whether to wait or to fail and be
//! retried (order-timeout does either, see its handler).

use std::time::Duration;

use orderflow_types::{EventType, OrderEvent, PaymentTimeout};
use tracing::{info, instrument};

use crate::error::Result;
use crate::ports::{Clock, EventPublisher, IdSource};

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
