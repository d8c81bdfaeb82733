//! The ports: what the domain needs from the outside world, as small traits. Adapters in
//! [`crate::adapters`] implement them against AWS and Kafka; [`crate::testing`] has in-memory fakes
//! that pass the same contract tests.

use std::future::Future;

pub use orderflow_types::api::Page;
use orderflow_types::{
    CancelReason, DailySales, EventId, Notification, Order, OrderEvent, OrderId, PaymentTimeout,
    Product, ProductId, ProductSales, Timestamp, UserId,
};

use crate::error::{Error, Result};

/// The current time. A port so that tests can control deadlines.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// New identifiers. A port so that tests can predict them.
pub trait IdSource: Send + Sync {
    fn order_id(&self) -> OrderId;
    fn event_id(&self) -> EventId;
}

/// Which page of a listing to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u16,
    /// The `next_cursor` of the previous page; `None` for the first page.
    pub cursor: Option<String>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u16 = 20;
    pub const MAX_LIMIT: u16 = 100;

    pub fn first(limit: u16) -> Self {
        Self {
            limit,
            cursor: None,
        }
    }

    /// A page request from untrusted query parameters.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self> {
        let limit = match limit {
            None => Self::DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<u16>()
                .ok()
                .filter(|limit| (1..=Self::MAX_LIMIT).contains(limit))
                .ok_or_else(|| {
                    Error::Validation(format!(
                        "limit must be an integer from 1 to {}",
                        Self::MAX_LIMIT
                    ))
                })?,
        };
        Ok(Self {
            limit,
            cursor: cursor.map(str::to_owned),
        })
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(Self::DEFAULT_LIMIT)
    }
}

/// The result of a write that only applies once (a conditional put).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    /// It had been written before; nothing changed.
    AlreadyExisted,
}

/// The result of a status change that only applies to a PENDING order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The order was PENDING and now has the new status; here as it is after the change.
    Applied(Order),
    /// The order had left PENDING before; nothing changed. Here as it is.
    NotPending(Order),
}

/// Products and their stock.
pub trait ProductStore: Send + Sync {
    /// Creates or replaces a product, its price and its stock.
    fn put_product(&self, product: &Product) -> impl Future<Output = Result<()>> + Send;
    fn get_product(&self, id: &ProductId) -> impl Future<Output = Result<Option<Product>>> + Send;
    /// Products in id order.
    fn list_products(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Product>>> + Send;
}

/// Orders, and the stock they hold.
pub trait OrderStore: Send + Sync {
    /// Stores a new PENDING order and takes every line's quantity from its product's stock, all or
    /// nothing. Fails with [`Error::OutOfStock`] (every short line, with what was available),
    /// [`Error::UnknownProducts`], or [`Error::AlreadyExists`] if the order id is taken.
    fn place_order(&self, order: &Order) -> impl Future<Output = Result<()>> + Send;

    fn get_order(&self, id: &OrderId) -> impl Future<Output = Result<Option<Order>>> + Send;

    /// A user's orders, newest first.
    fn list_orders(
        &self,
        user: &UserId,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Order>>> + Send;

    /// PENDING → PAID. [`Error::NotFound`] if there is no such order.
    fn mark_paid(
        &self,
        id: &OrderId,
        at: Timestamp,
    ) -> impl Future<Output = Result<Transition>> + Send;

    /// PENDING → CANCELLED, returning every line's quantity to stock and writing the user's
    /// notification, all in one transaction. `order` is the order as read; its lines are what is
    /// returned to stock, which is sound because lines never change after placement.
    fn cancel_order(
        &self,
        order: &Order,
        reason: CancelReason,
        notification: &Notification,
        at: Timestamp,
    ) -> impl Future<Output = Result<Transition>> + Send;
}

/// In-app notifications.
pub trait NotificationStore: Send + Sync {
    /// Writes a notification unless one with its id exists.
    fn put_notification(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<Written>> + Send;

    /// A user's notifications, newest first.
    fn list_notifications(
        &self,
        user: &UserId,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Notification>>> + Send;
}

/// Sales statistics.
pub trait SalesStore: Send + Sync {
    /// Counts a paid order once: its day's orders and revenue and each product's units, together
    /// with a marker for the order, in one transaction. A second call for the same order changes
    /// nothing and returns [`Written::AlreadyExisted`].
    fn record_sale(
        &self,
        order: &Order,
        paid_at: Timestamp,
    ) -> impl Future<Output = Result<Written>> + Send;

    /// `day` is `YYYY-MM-DD` (UTC).
    fn daily_sales(&self, day: &str) -> impl Future<Output = Result<DailySales>> + Send;

    fn product_sales(
        &self,
        product: &ProductId,
    ) -> impl Future<Output = Result<ProductSales>> + Send;
}

/// Publishes order events. Returns once the broker has acknowledged the event.
pub trait EventPublisher: Send + Sync {
    fn publish(&self, event: &OrderEvent) -> impl Future<Output = Result<()>> + Send;
}

/// A shared publisher publishes: handlers and tests can hold the same one.
impl<T: EventPublisher> EventPublisher for std::sync::Arc<T> {
    fn publish(&self, event: &OrderEvent) -> impl Future<Output = Result<()>> + Send {
        (**self).publish(event)
    }
}

/// Schedules and removes payment timeouts. Both are idempotent.
pub trait TimeoutScheduler: Send + Sync {
    /// Arranges for `timeout` to be delivered at its `payment_due_at`. An existing schedule for the
    /// order is left as it is.
    fn schedule(&self, timeout: &PaymentTimeout) -> impl Future<Output = Result<()>> + Send;

    /// Removes the order's pending timeout. A schedule that is gone already is not an error.
    fn cancel(&self, order: &OrderId) -> impl Future<Output = Result<()>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_requests_default_and_bound_the_limit() {
        assert_eq!(
            PageRequest::parse(None, None).unwrap(),
            PageRequest::first(20)
        );
        let request = PageRequest::parse(Some("100"), Some("abc")).unwrap();
        assert_eq!(
            (request.limit, request.cursor.as_deref()),
            (100, Some("abc"))
        );
        for bad in ["0", "101", "-1", "ten", ""] {
            let err = PageRequest::parse(Some(bad), None).unwrap_err();
            assert!(
                matches!(err, Error::Validation(ref m) if m.contains("1 to 100")),
                "{bad}: {err}"
            );
        }
    }
}
