//! A payment deadline passed: announce it on the event stream. The order-events consumer decides
//! what it means for the order (cancel it if it is still PENDING, nothing otherwise), so this step
//! needs no database read and cannot race a payment.

use orderflow_types::{EventType, OrderEvent, PaymentTimeout};
use tracing::{info, instrument};

use crate::error::Result;
use crate::ports::{Clock, EventPublisher, IdSource};

/// Publishes the `timeout` event for `timeout`'s order and returns it once the broker has it.
#[instrument(skip_all, fields(order_id = %timeout.order_id))]
pub async fn announce_timeout(
    publisher: &impl EventPublisher,
    clock: &impl Clock,
    ids: &impl IdSource,
    timeout: &PaymentTimeout,
) -> Result<OrderEvent> {
    let event = OrderEvent {
        order_id: timeout.order_id.clone(),
        user_id: timeout.user_id.clone(),
        event_type: EventType::Timeout,
        event_id: Some(ids.event_id()),
        occurred_at: Some(clock.now()),
    };
    publisher.publish(&event).await?;
    info!(payment_due_at = %timeout.payment_due_at, "payment timeout announced");
    Ok(event)
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use orderflow_types::{OrderId, UserId, time};

    use super::*;
    use crate::testing::{FixedClock, RecordingPublisher, SequentialIds};

    #[tokio::test]
    async fn a_timeout_is_published_for_the_order_and_user() {
        let publisher = RecordingPublisher::default();
        let now = time::parse("2026-11-25T20:34:06Z").unwrap();
        let timeout = PaymentTimeout {
            order_id: OrderId::parse("o-1").unwrap(),
            user_id: UserId::parse("u-1").unwrap(),
            payment_due_at: time::parse("2026-11-25T20:34:05.123Z").unwrap(),
        };
        let event = announce_timeout(
            &publisher,
            &FixedClock::at(now),
            &SequentialIds::default(),
            &timeout,
        )
        .await
        .unwrap();
        assert_eq!(publisher.events(), std::slice::from_ref(&event));
        assert_eq!(
            (event.order_id, event.user_id),
            (timeout.order_id, timeout.user_id)
        );
        assert_eq!(event.event_type, EventType::Timeout);
        assert_eq!(
            (event.event_id.unwrap().as_str(), event.occurred_at),
            ("event-1", Some(now))
        );
    }
}
