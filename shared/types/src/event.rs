//! The events on the `order-events` topic, and the Scheduler's payment-timeout payload.
//!
//! The JSON stays compatible with the original system: `order_id`, `user_id` and `event_type` are
//! always present; `event_id` and `occurred_at` are additive, absent from old events, and unknown
//! fields are ignored so that producers can add more.

use std::fmt;

use chrono::SubsecRound;
use serde::{Deserialize, Serialize};

use crate::ids::{EventId, OrderId, UserId};
use crate::time::{self, Timestamp};

/// What happened to an order. Ordered as listed, the order of an order's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Created,
    Paid,
    Timeout,
    Cancelled,
}

impl EventType {
    pub const ALL: [EventType; 4] = [Self::Created, Self::Paid, Self::Timeout, Self::Cancelled];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Paid => "paid",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|event_type| event_type.as_str() == value)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record value on the `order-events` topic. The record key is the order id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub event_type: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    #[serde(
        default,
        with = "time::rfc3339_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub occurred_at: Option<Timestamp>,
}

impl OrderEvent {
    /// A new event with a fresh id. The time is kept to the millisecond, as the wire keeps it.
    pub fn new(
        order_id: OrderId,
        user_id: UserId,
        event_type: EventType,
        occurred_at: Timestamp,
    ) -> Self {
        Self {
            order_id,
            user_id,
            event_type,
            event_id: Some(EventId::generate()),
            occurred_at: Some(occurred_at.trunc_subsecs(3)),
        }
    }
}

/// Names of the Kafka record headers the producer sets. Consumers must not need them: the value
/// alone is the event, as it always was; headers let tools filter and trace without parsing it.
pub mod headers {
    pub const EVENT_TYPE: &str = "event_type";
    pub const EVENT_ID: &str = "event_id";
    pub const CONTENT_TYPE: &str = "content-type";
    pub const JSON: &str = "application/json";
}

/// The input of the one-time Scheduler schedule that fires when an order's payment is due. The
/// Scheduler hands it to the order-timeout function as it is, with no envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentTimeout {
    pub order_id: OrderId,
    pub user_id: UserId,
    #[serde(with = "time::rfc3339")]
    pub payment_due_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_names_match_the_wire() {
        for (event_type, name, json) in [
            (EventType::Created, "created", r#""created""#),
            (EventType::Paid, "paid", r#""paid""#),
            (EventType::Timeout, "timeout", r#""timeout""#),
            (EventType::Cancelled, "cancelled", r#""cancelled""#),
        ] {
            assert_eq!(event_type.as_str(), name);
            assert_eq!(serde_json::to_string(&event_type).unwrap(), json);
            assert_eq!(EventType::parse(name), Some(event_type));
        }
        assert_eq!(EventType::ALL.len(), 4, "every variant is listed above");
    }

    #[test]
    fn unknown_event_type_is_rejected_with_its_name() {
        let err = serde_json::from_str::<OrderEvent>(
            r#"{"order_id":"o","user_id":"u","event_type":"shipped"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown variant `shipped`"), "{err}");
    }

    #[test]
    fn new_events_carry_an_id_and_a_time() {
        let at = time::parse("2026-11-25T20:00:00Z").unwrap();
        let event = OrderEvent::new(
            OrderId::parse("o").unwrap(),
            UserId::parse("u").unwrap(),
            EventType::Paid,
            at,
        );
        assert!(event.event_id.is_some());
        assert_eq!(event.occurred_at, Some(at));
        let precise = time::parse("2026-11-25T20:00:00.123456789Z").unwrap();
        let event = OrderEvent::new(event.order_id, event.user_id, EventType::Paid, precise);
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            serde_json::from_str::<OrderEvent>(&json).unwrap(),
            event,
            "round-trips exactly"
        );
    }
}
