//! In-app notifications and sales statistics, as the event consumer writes them.

use serde::{Deserialize, Serialize};

use crate::ids::{OrderId, ProductId, UserId};
use crate::time::{self, Timestamp};

/// What a notification tells its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    OrderCreated,
    OrderCancelled,
}

impl NotificationKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "order_created",
            Self::OrderCancelled => "order_cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::OrderCreated, Self::OrderCancelled]
            .into_iter()
            .find(|kind| kind.as_str() == value)
    }
}

/// A message for one user about one of their orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub user_id: UserId,
    /// Deterministic (`<order id>#<kind>`), so that a redelivered event cannot notify twice.
    pub notification_id: String,
    pub order_id: OrderId,
    pub kind: NotificationKind,
    pub message: String,
    #[serde(with = "time::rfc3339")]
    pub created_at: Timestamp,
}

impl Notification {
    pub fn new(
        user_id: UserId,
        order_id: OrderId,
        kind: NotificationKind,
        message: impl Into<String>,
        created_at: Timestamp,
    ) -> Self {
        Self {
            notification_id: format!("{order_id}#{}", kind.as_str()),
            user_id,
            order_id,
            kind,
            message: message.into(),
            created_at,
        }
    }
}

/// Paid orders and revenue of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailySales {
    /// `YYYY-MM-DD`
    pub day: String,
    pub paid_orders: u64,
    pub revenue_cents: u64,
}

/// Units of one product sold in paid orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSales {
    pub product_id: ProductId,
    pub units_sold: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_ids_are_deterministic_per_order_and_kind() {
        let at = time::parse("2026-11-25T20:00:00Z").unwrap();
        let make = |kind| {
            Notification::new(
                UserId::parse("u").unwrap(),
                OrderId::parse("o-1").unwrap(),
                kind,
                "m",
                at,
            )
        };
        assert_eq!(
            make(NotificationKind::OrderCreated).notification_id,
            "o-1#order_created"
        );
        assert_eq!(
            make(NotificationKind::OrderCancelled).notification_id,
            make(NotificationKind::OrderCancelled).notification_id
        );
        for kind in [
            NotificationKind::OrderCreated,
            NotificationKind::OrderCancelled,
        ] {
            assert_eq!(NotificationKind::parse(kind.as_str()), Some(kind));
        }
    }
}
