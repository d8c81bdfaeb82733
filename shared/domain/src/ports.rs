//! The ports: what the domain needs from the outside world, as small traits. The crate
//! `orderflow-adapters` implements them against DynamoDB, EventBridge Scheduler and Kafka;
//! [`crate::testing`] has in-memory fakes that pass the same contract tests.
//!
//! A use case names its ports with one bound: [`ApiPorts`] for the API's, [`ConsumerPorts`] for
//! the event consumer's. Each is a set of types, not values: [`ApiWith`] and [`ConsumerWith`] name
//! one set, so production wiring, tests and fault injection pick adapters, fakes or wrappers by
//! type, and every call is still statically dispatched.

use std::future::Future;
use std::marker::PhantomData;

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

/// A clock shared with other parts, such as a test's stand-in that moves it.
impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> Timestamp {
        C::now(self)
    }
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
    /// nothing, provided every line's unit price is still its product's price. Fails with
    /// [`Error::UnknownProducts`], [`Error::OutOfStock`] (every short line, with what was
    /// available), [`Error::PriceChanged`] (every product whose price is not the line's, as it is
    /// now), in that order of precedence, or [`Error::AlreadyExists`] if the order id is taken.
    fn place_order(&self, order: &Order) -> impl Future<Output = Result<()>> + Send;

    fn get_order(&self, id: &OrderId) -> impl Future<Output = Result<Option<Order>>> + Send;

    /// The order `id`, if it exists, and those of `products` that exist (in no particular order),
    /// read together in one strongly consistent call: what placing needs to know before it
    /// schedules anything. A stock seen short here was short when it was read.
    fn order_and_products(
        &self,
        id: &OrderId,
        products: &[ProductId],
    ) -> impl Future<Output = Result<(Option<Order>, Vec<Product>)>> + Send;

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

/// Publishes order events. Returns once the broker has acknowledged the event. Used by the
/// functions that announce what is not a change of the orders table (order-timeout) and by the one
/// that announces the table's changes (order-stream); the API never publishes.
pub trait EventPublisher: Send + Sync {
    fn publish(&self, event: &OrderEvent) -> impl Future<Output = Result<()>> + Send;
}

/// A shared publisher publishes: handlers and tests can hold the same one.
impl<T: EventPublisher> EventPublisher for std::sync::Arc<T> {
    fn publish(&self, event: &OrderEvent) -> impl Future<Output = Result<()>> + Send {
        (**self).publish(event)
    }
}

/// A Kafka record as consumed, bytes untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Where records go that can never be processed.
pub trait DeadLetters: Send + Sync {
    /// Stores `record` as it was, with `reason`. Returns once it is stored durably.
    fn dead_letter(
        &self,
        record: &RawRecord,
        reason: &str,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Schedules and removes payment timeouts. Both are idempotent.
pub trait TimeoutScheduler: Send + Sync {
    /// Arranges for `timeout` to be delivered at its `payment_due_at`. An existing schedule for the
    /// order is left as it is.
    fn schedule(&self, timeout: &PaymentTimeout) -> impl Future<Output = Result<()>> + Send;

    /// Removes the order's pending timeout. A schedule that is gone already is not an error.
    fn cancel(&self, order: &OrderId) -> impl Future<Output = Result<()>> + Send;
}

/// A caller's `Idempotency-Key`, scoped to that caller so that two users' keys never meet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    /// Validates the key a client sent: 1 to 255 visible ASCII characters, as a UUID or any other
    /// token a client generates is.
    pub fn new(user: &UserId, key: &str) -> Result<Self> {
        let visible = |c: char| c.is_ascii_graphic();
        if key.is_empty() || key.len() > Self::MAX_LEN || !key.chars().all(visible) {
            return Err(Error::Validation(format!(
                "Idempotency-Key must be 1 to {} visible ASCII characters",
                Self::MAX_LEN
            )));
        }
        // Neither part contains whitespace, so the space keeps `a b` + `c` apart from `a` + `b c`.
        Ok(Self(format!("{user} {key}")))
    }

    /// The stored form, `<user id> <key>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds a key from its stored form, as read back from a store.
    pub fn from_stored(stored: impl Into<String>) -> Self {
        Self(stored.into())
    }
}

/// The status and JSON body the API answered a request with, kept to answer its retries alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// What an `Idempotency-Key` stands for: one request, the order it is about, and how it ended.
///
/// A record moves from held (a request works on it under a lease) to either completed (it has a
/// response, which every retry gets) or released (the request failed in a way a retry can fix;
/// the next retry takes it over and resumes the same order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: IdempotencyKey,
    /// A digest of what the request asked for: a retry must ask for exactly the same.
    pub fingerprint: String,
    /// The order the request creates or acts on. A retried create resumes this order.
    pub order_id: OrderId,
    /// When the request was first accepted. A retried create keeps the order's times.
    pub accepted_at: Timestamp,
    /// After this the key is free again (DynamoDB's TTL deletes the record some time later).
    pub expires_at: Timestamp,
    /// While in the future, a request is working on the key and others must wait.
    pub lease_until: Option<Timestamp>,
    /// The final answer, once there is one.
    pub response: Option<StoredResponse>,
}

/// The result of [`IdempotencyStore::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free: the record is stored and the caller holds its lease.
    Claimed,
    /// An unexpired record has the key; here it is as stored.
    Taken(IdempotencyRecord),
}

/// Records of API requests made with an `Idempotency-Key`. Every write is conditional, so two
/// requests with the same key can never both hold it.
pub trait IdempotencyStore: Send + Sync {
    /// Stores `record` if no unexpired record has its key (`now` decides what has expired).
    fn claim(
        &self,
        record: &IdempotencyRecord,
        now: Timestamp,
    ) -> impl Future<Output = Result<Claim>> + Send;

    /// Moves the lease of `existing`, a record no request holds, to the caller until
    /// `lease_until`. Returns the record as it is now held, or `None` if the record changed since
    /// it was read (another request took it over, or completed it).
    fn take_over(
        &self,
        existing: &IdempotencyRecord,
        lease_until: Timestamp,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>>> + Send;

    /// Stores the final response of the request that holds `record`, and ends its lease. Does
    /// nothing if the caller no longer holds the record.
    fn complete(
        &self,
        record: &IdempotencyRecord,
        response: &StoredResponse,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Ends the lease of the request that holds `record` without a response, so that a retry
    /// can take over at once. Does nothing if the caller no longer holds the record.
    fn release(&self, record: &IdempotencyRecord) -> impl Future<Output = Result<()>> + Send;
}

/// The ports of the API use cases ([`crate::storefront::Storefront`], and the idempotency of its
/// POST requests).
pub trait ApiPorts: 'static {
    type Store: ProductStore + OrderStore + NotificationStore;
    type Idempotency: IdempotencyStore;
    type Scheduler: TimeoutScheduler;
    type Clock: Clock;
    type Ids: IdSource;
}

/// The ports of the order-events consumer ([`crate::consumer::EventConsumer`]).
pub trait ConsumerPorts: 'static {
    type Store: OrderStore + NotificationStore + SalesStore;
    type DeadLetters: DeadLetters;
    type Clock: Clock;
}

/// One set of [`ApiPorts`], by type: `ApiWith<Store, Idempotency, Scheduler, Clock, Ids>`.
pub struct ApiWith<S, K, T, C, I>(PhantomData<(S, K, T, C, I)>);

impl<S, K, T, C, I> ApiPorts for ApiWith<S, K, T, C, I>
where
    S: ProductStore + OrderStore + NotificationStore + 'static,
    K: IdempotencyStore + 'static,
    T: TimeoutScheduler + 'static,
    C: Clock + 'static,
    I: IdSource + 'static,
{
    type Store = S;
    type Idempotency = K;
    type Scheduler = T;
    type Clock = C;
    type Ids = I;
}

/// One set of [`ConsumerPorts`], by type: `ConsumerWith<Store, DeadLetters, Clock>`.
pub struct ConsumerWith<S, D, C>(PhantomData<(S, D, C)>);

impl<S, D, C> ConsumerPorts for ConsumerWith<S, D, C>
where
    S: OrderStore + NotificationStore + SalesStore + 'static,
    D: DeadLetters + 'static,
    C: Clock + 'static,
{
    type Store = S;
    type DeadLetters = D;
    type Clock = C;
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
