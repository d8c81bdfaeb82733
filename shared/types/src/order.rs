//! Orders, their lines, and the products they reserve.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{OrderId, ProductId, UserId};
use crate::time::{self, Timestamp};

/// How many units of one product an order line holds: 1 to [`Quantity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u32")]
pub struct Quantity(u32);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("quantity must be an integer from 1 to {max}, got {got}", max = Quantity::MAX)]
pub struct InvalidQuantity {
    pub got: u64,
}

impl Quantity {
    pub const MAX: u32 = 1000;

    pub fn new(value: u64) -> Result<Self, InvalidQuantity> {
        match u32::try_from(value) {
            Ok(units @ 1..=Self::MAX) => Ok(Self(units)),
            _ => Err(InvalidQuantity { got: value }),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u64> for Quantity {
    type Error = InvalidQuantity;
    fn try_from(value: u64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Quantity> for u32 {
    fn from(quantity: Quantity) -> u32 {
        quantity.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where an order is in its life. PENDING holds stock until it is paid or cancelled; PAID and
/// CANCELLED are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Paid,
    Cancelled,
}

impl OrderStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Paid => "PAID",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Pending, Self::Paid, Self::Cancelled]
            .into_iter()
            .find(|status| status.as_str() == value)
    }

    pub const fn is_final(self) -> bool {
        !matches!(self, Self::Pending)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an order was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// It was not paid before its payment deadline.
    PaymentTimeout,
    /// Its owner cancelled it.
    Customer,
}

impl CancelReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PaymentTimeout => "payment_timeout",
            Self::Customer => "customer",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::PaymentTimeout, Self::Customer]
            .into_iter()
            .find(|reason| reason.as_str() == value)
    }
}

/// One product in an order, with the price it was reserved at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
    pub unit_price_cents: u64,
}

impl OrderLine {
    pub fn total_cents(&self) -> u64 {
        self.unit_price_cents * u64::from(self.quantity.get())
    }
}

/// An order as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub total_cents: u64,
    #[serde(with = "time::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub updated_at: Timestamp,
    /// When an unpaid order is cancelled and its stock released.
    #[serde(with = "time::rfc3339")]
    pub payment_due_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<CancelReason>,
}

impl Order {
    /// A new PENDING order; the total is derived from the lines.
    pub fn new_pending(
        order_id: OrderId,
        user_id: UserId,
        lines: Vec<OrderLine>,
        created_at: Timestamp,
        payment_due_at: Timestamp,
    ) -> Self {
        let total_cents = lines.iter().map(OrderLine::total_cents).sum();
        Self {
            order_id,
            user_id,
            status: OrderStatus::Pending,
            lines,
            total_cents,
            created_at,
            updated_at: created_at,
            payment_due_at,
            cancel_reason: None,
        }
    }
}

/// A product and the stock still available to new orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub product_id: ProductId,
    pub name: String,
    pub price_cents: u64,
    pub stock: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_accepts_one_to_a_thousand() {
        assert_eq!(Quantity::new(1).map(Quantity::get), Ok(1));
        assert_eq!(Quantity::new(1000).map(Quantity::get), Ok(1000));
        assert_eq!(Quantity::new(0), Err(InvalidQuantity { got: 0 }));
        assert_eq!(Quantity::new(1001), Err(InvalidQuantity { got: 1001 }));
        assert_eq!(
            Quantity::new(u64::MAX),
            Err(InvalidQuantity { got: u64::MAX })
        );
    }

    #[test]
    fn quantity_rejects_non_integers_on_the_wire() {
        assert!(serde_json::from_str::<Quantity>("2").is_ok());
        assert!(serde_json::from_str::<Quantity>("2.5").is_err());
        assert!(serde_json::from_str::<Quantity>("-1").is_err());
        assert!(serde_json::from_str::<Quantity>("\"2\"").is_err());
        let err = serde_json::from_str::<Quantity>("0")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("quantity must be an integer from 1 to 1000"),
            "{err}"
        );
    }

    #[test]
    fn status_and_reason_round_trip_through_their_names() {
        for (status, name, json) in [
            (OrderStatus::Pending, "PENDING", r#""PENDING""#),
            (OrderStatus::Paid, "PAID", r#""PAID""#),
            (OrderStatus::Cancelled, "CANCELLED", r#""CANCELLED""#),
        ] {
            assert_eq!(status.as_str(), name);
            assert_eq!(OrderStatus::parse(name), Some(status));
            assert_eq!(serde_json::to_string(&status).unwrap(), json);
        }
        for (reason, name) in [
            (CancelReason::PaymentTimeout, "payment_timeout"),
            (CancelReason::Customer, "customer"),
        ] {
            assert_eq!(reason.as_str(), name);
            assert_eq!(CancelReason::parse(name), Some(reason));
        }
        assert_eq!(OrderStatus::parse("pending"), None);
        assert!(!OrderStatus::Pending.is_final());
        assert!(OrderStatus::Paid.is_final() && OrderStatus::Cancelled.is_final());
    }

    #[test]
    fn new_pending_order_totals_its_lines() {
        let at = time::parse("2026-11-25T20:00:00Z").unwrap();
        let line = |sku: &str, units, price| OrderLine {
            product_id: ProductId::parse(sku).unwrap(),
            quantity: Quantity::new(units).unwrap(),
            unit_price_cents: price,
        };
        let order = Order::new_pending(
            OrderId::parse("o-1").unwrap(),
            UserId::parse("u-1").unwrap(),
            vec![line("a", 2, 250), line("b", 1, 1000)],
            at,
            at + chrono::Duration::minutes(30),
        );
        assert_eq!(order.total_cents, 1500);
        assert_eq!(order.status, OrderStatus::Pending);
        assert_eq!(order.updated_at, at);
    }
}
