//! The order use cases behind the API: place, read, pay and cancel orders; a user's orders and
//! notifications; products and their stock.
//!
//! The API writes DynamoDB and the Scheduler, never Kafka: every order event is derived from the
//! orders table's stream by order-stream ([`crate::outbox`]), so an acknowledged change always has
//! its event, whether or not the broker is up and whether or not the client retries.
//!
//! Placing an order touches two systems that share no transaction: the Scheduler and DynamoDB.
//! The steps are ordered so that a failure between them leaves nothing stuck, and each is
//! idempotent, so running [`Storefront::place`] again for the same order id finishes what an
//! earlier run left undone and applies nothing twice:
//!
//! 1. The payment timeout is scheduled first. Stock is only ever reserved for an order that
//!    already has its timeout, so no failure can hold stock forever.
//! 2. The order is stored and its stock reserved in one transaction; the stream announces
//!    `created`. If that fails for lack of stock, the schedule is removed (best effort: a timeout
//!    for an order that never existed is dead-lettered by the consumer). An order placed before
//!    under the same id is resumed.
//!
//! Before both, the order is priced. A warm function prices it from its [`Catalogue`] and reads
//! nothing: the transaction's conditions check each line's price as they check its stock, and a
//! price that changed fails the transaction, which is repriced and tried again. So a
//! steady-state order costs one CreateSchedule and one TransactWriteItems. Products the function
//! does not know, or whose stock it last saw short of the order, are read first in one strongly
//! consistent call: an order that read shows short is refused there, with what was available,
//! before anything is scheduled.
//!
//! A timeout is announced at the payment deadline whether or not the order exists yet, and the
//! consumer cannot cancel an order that does not exist. So an order that placing leaves PENDING
//! at or after its deadline (a retry in the last seconds before it, whose transaction lands
//! after it; an attempt that placed the order and stopped, then a retry after the deadline) is
//! cancelled by placing itself, as its timeout would have.

use chrono::TimeDelta;
use orderflow_types::api::PutProductRequest;
use orderflow_types::{
    CancelReason, Notification, NotificationKind, Order, OrderId, OrderLine, OrderStatus,
    PaymentTimeout, Product, ProductId, Quantity, Timestamp, UserId,
};
use tracing::{debug, info, instrument, warn};

use crate::catalogue::Catalogue;
use crate::error::{Dependency, Error, Resource, Result, Shortage, cause_chain};
use crate::metrics::{self, Metric};
use crate::ports::{
    ApiPorts, Clock, NotificationStore, OrderStore, Page, PageRequest, ProductStore,
    TimeoutScheduler, Transition,
};

/// The use cases behind the API: orders, their payment and cancellation, the caller's
/// notifications, and the product catalogue with its stock.
pub struct Storefront<P: ApiPorts> {
    pub store: P::Store,
    pub scheduler: P::Scheduler,
    pub clock: P::Clock,
    /// How long a new order holds its stock; unpaid after that, it is cancelled.
    pub payment_timeout: TimeDelta,
    /// The prices and stock this warm function last saw; see the module documentation.
    pub catalogue: Catalogue,
}

/// How many times an order is priced again because prices changed under it before placing
/// gives up (with [`Error::Unavailable`]: a retry may well succeed).
const PRICING_ATTEMPTS: usize = 3;

/// An order as its owner asked for it: validated, with lines of the same product merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Chosen by the caller, so that a retry places this order rather than a second one.
    pub order_id: OrderId,
    pub user_id: UserId,
    pub items: Vec<(ProductId, Quantity)>,
    /// When the request was first accepted: the order's creation time, which its payment
    /// deadline follows from. A retry passes the same time, so the order's times do not move.
    pub accepted_at: Timestamp,
}

/// The notification a customer's own cancellation leaves; the consumer writes the same id when
/// it sees the `cancelled` event the stream derives, which then changes nothing.
const CANCELLED_MESSAGE: &str = "Your order was cancelled.";

impl<P: ApiPorts> Storefront<P> {
    /// Places `new`: schedules its payment timeout, then reserves its stock and stores it as
    /// PENDING (see the module documentation for why in this order). Calling it
    /// again with the same order id completes an earlier call and returns the same order.
    ///
    /// Fails with [`Error::UnknownProducts`] or [`Error::OutOfStock`] when nothing was reserved,
    /// and with [`Error::Validation`] for a retry that comes after the order's payment deadline
    /// when the order was never placed: it can no longer be.
    #[instrument(skip_all, fields(order_id = %new.order_id, lines = new.items.len()))]
    pub async fn place(&self, new: &NewOrder) -> Result<Order> {
        let due_at = new.accepted_at + self.payment_timeout;
        if self.clock.now() >= due_at {
            // A schedule created now would be in the past; only an order placed before can stand.
            let Some(placed) = self.placed_before(new).await? else {
                return Err(Error::Validation(format!(
                    "order {} was not placed before its payment deadline {}; send it again \
                     with a new Idempotency-Key",
                    new.order_id,
                    orderflow_types::time::format(&due_at)
                )));
            };
            return self.finish_placed(placed).await;
        }
        let lines = match self.catalogue.lines(&new.items) {
            Some(lines) => lines,
            None => match self.read_lines(new).await? {
                Priced::Lines(lines) => lines,
                Priced::Placed(order) => {
                    debug!("the order was placed by an earlier attempt; resuming it");
                    return self.finish_placed(order).await;
                }
            },
        };
        let timeout = PaymentTimeout {
            order_id: new.order_id.clone(),
            user_id: new.user_id.clone(),
            payment_due_at: due_at,
        };
        self.scheduler.schedule(&timeout).await?;
        let order = match self.reserve(new, lines, due_at).await {
            Ok(order) => {
                info!(
                    total_cents = order.total_cents,
                    "stock reserved; order is PENDING"
                );
                metrics::count(Metric::OrdersPlaced);
                order
            }
            Err(Error::AlreadyExists { .. }) => {
                let placed =
                    self.placed_before(new)
                        .await?
                        .ok_or_else(|| Error::AlreadyExists {
                            resource: Resource::Order,
                            id: new.order_id.to_string(),
                        })?;
                debug!("the order was placed by an earlier attempt; resuming it");
                placed
            }
            Err(err @ (Error::OutOfStock(_) | Error::UnknownProducts(_))) => {
                match &err {
                    Error::OutOfStock(shortages) => {
                        self.catalogue.short(shortages);
                        metrics::count(Metric::OrdersSoldOut);
                    }
                    Error::UnknownProducts(ids) => self.catalogue.forget(ids),
                    _ => {}
                }
                self.remove_timeout(&new.order_id).await;
                return Err(err);
            }
            // The order may or may not be stored; either way its timeout stays, so its stock
            // cannot stay reserved.
            Err(err) => return Err(err),
        };
        self.finish_placed(order).await
    }

    /// The last step of placing, for an order that is stored: one still PENDING at its payment
    /// deadline is cancelled, as its timeout would cancel it. The timeout may have fired before
    /// the order existed (a retry that placed it in the last seconds before the deadline, or an
    /// attempt that placed it and stopped), and then nothing else ever would.
    async fn finish_placed(&self, order: Order) -> Result<Order> {
        if order.status != OrderStatus::Pending || self.clock.now() < order.payment_due_at {
            return Ok(order);
        }
        warn!("order still PENDING at its payment deadline after placing; cancelling it");
        let current = self
            .cancel_pending(
                &order,
                CancelReason::PaymentTimeout,
                crate::expiry::TIMED_OUT_MESSAGE,
            )
            .await?;
        if current.cancel_reason == Some(CancelReason::PaymentTimeout) {
            self.scheduler.cancel(&current.order_id).await?;
        }
        Ok(current)
    }

    /// The caller's order. Another user's order is [`Error::NotFound`], as if it did not exist.
    #[instrument(skip_all, fields(order_id = %id))]
    pub async fn get(&self, user: &UserId, id: &OrderId) -> Result<Order> {
        match self.store.get_order(id).await? {
            Some(order) if &order.user_id == user => Ok(order),
            _ => Err(Error::NotFound {
                resource: Resource::Order,
                id: id.to_string(),
            }),
        }
    }

    /// The caller's orders, newest first.
    pub async fn list(&self, user: &UserId, page: &PageRequest) -> Result<Page<Order>> {
        self.store.list_orders(user, page).await
    }

    /// PENDING → PAID (the stream announces `paid`), then the timeout is removed. Paying a paid
    /// order succeeds and removes the timeout again, which is how a retry completes a payment
    /// whose schedule was left; a timeout that fires for a paid order changes nothing anyway. A
    /// cancelled order fails with [`Error::WrongStatus`].
    #[instrument(skip_all, fields(order_id = %id))]
    pub async fn pay(&self, user: &UserId, id: &OrderId) -> Result<Order> {
        let order = self.get(user, id).await?;
        let current = match order.status {
            OrderStatus::Pending => match self.store.mark_paid(id, self.clock.now()).await? {
                Transition::Applied(paid) => {
                    info!("order paid");
                    metrics::count(Metric::OrdersPaid);
                    paid
                }
                Transition::NotPending(current) => current,
            },
            _ => order,
        };
        if current.status != OrderStatus::Paid {
            return Err(Error::WrongStatus {
                current: current.status,
            });
        }
        self.scheduler.cancel(id).await?;
        Ok(current)
    }

    /// The owner's cancellation: PENDING → CANCELLED with the stock returned and the user
    /// notified in one transaction (the stream announces `cancelled`), then the timeout is
    /// removed. Cancelling an order its owner cancelled before removes the timeout again; an
    /// order cancelled by its payment timeout is returned as it is; a paid order fails with
    /// [`Error::WrongStatus`].
    #[instrument(skip_all, fields(order_id = %id))]
    pub async fn cancel(&self, user: &UserId, id: &OrderId) -> Result<Order> {
        let order = self.get(user, id).await?;
        let current = match order.status {
            OrderStatus::Pending => {
                self.cancel_pending(&order, CancelReason::Customer, CANCELLED_MESSAGE)
                    .await?
            }
            _ => order,
        };
        match (current.status, current.cancel_reason) {
            (OrderStatus::Cancelled, Some(CancelReason::Customer)) => {
                self.scheduler.cancel(id).await?;
                Ok(current)
            }
            (OrderStatus::Cancelled, _) => Ok(current),
            (status, _) => Err(Error::WrongStatus { current: status }),
        }
    }

    /// PENDING → CANCELLED for `reason`, with the stock returned and the user notified
    /// (`message`) in one transaction; the order as it is afterwards, also when it had left
    /// PENDING already.
    async fn cancel_pending(
        &self,
        order: &Order,
        reason: CancelReason,
        message: &str,
    ) -> Result<Order> {
        let now = self.clock.now();
        let notice = Notification::new(
            order.user_id.clone(),
            order.order_id.clone(),
            NotificationKind::OrderCancelled,
            message,
            now,
        );
        match self.store.cancel_order(order, reason, &notice, now).await? {
            Transition::Applied(cancelled) => {
                info!(?reason, "order cancelled; stock returned");
                Ok(cancelled)
            }
            Transition::NotPending(current) => Ok(current),
        }
    }

    /// Stores `new` at the prices of `lines` and reserves its stock; when a price changed, prices
    /// the order again at the product's current price and tries again.
    async fn reserve(
        &self,
        new: &NewOrder,
        mut lines: Vec<OrderLine>,
        due_at: Timestamp,
    ) -> Result<Order> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let order = Order::new_pending(
                new.order_id.clone(),
                new.user_id.clone(),
                lines,
                new.accepted_at,
                due_at,
            );
            match self.store.place_order(&order).await {
                Ok(()) => {
                    self.catalogue.reserved(&order.lines);
                    return Ok(order);
                }
                Err(Error::PriceChanged(current)) => {
                    self.catalogue.learn(&current);
                    debug!(
                        attempt,
                        "prices changed since they were last seen; pricing again"
                    );
                    if attempt == PRICING_ATTEMPTS {
                        self.remove_timeout(&new.order_id).await;
                        return Err(Error::Unavailable {
                            dependency: Dependency::DynamoDb,
                            action: "place an order at its products' current prices",
                            source: Error::PriceChanged(current).into(),
                        });
                    }
                    lines = order.lines;
                    for line in &mut lines {
                        if let Some(product) =
                            current.iter().find(|p| p.product_id == line.product_id)
                        {
                            line.unit_price_cents = product.price_cents;
                        }
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Reads the order's products and the order itself, in one strongly consistent call, and
    /// prices its lines. Refuses an order with unknown products or short of stock as that read
    /// shows it, unless an earlier attempt placed it already (its own reservation may be what
    /// makes the stock short now): then that order is the answer.
    async fn read_lines(&self, new: &NewOrder) -> Result<Priced> {
        let ids: Vec<ProductId> = new.items.iter().map(|(id, _)| id.clone()).collect();
        let (placed, products) = self.store.order_and_products(&new.order_id, &ids).await?;
        self.catalogue.learn(&products);
        if let Some(order) = placed {
            return Ok(Priced::Placed(same_order(new, order)?));
        }
        let mut lines = Vec::with_capacity(new.items.len());
        let mut unknown = Vec::new();
        let mut short = Vec::new();
        for (product_id, quantity) in &new.items {
            match products.iter().find(|p| &p.product_id == product_id) {
                None => unknown.push(product_id.clone()),
                Some(product) if product.stock < u64::from(quantity.get()) => {
                    short.push(Shortage {
                        product_id: product_id.clone(),
                        requested: quantity.get(),
                        available: product.stock,
                    });
                }
                Some(product) => lines.push(OrderLine {
                    product_id: product_id.clone(),
                    quantity: *quantity,
                    unit_price_cents: product.price_cents,
                }),
            }
        }
        if !unknown.is_empty() {
            return Err(Error::UnknownProducts(unknown));
        }
        if !short.is_empty() {
            metrics::count(Metric::OrdersSoldOut);
            return Err(Error::OutOfStock(short));
        }
        Ok(Priced::Lines(lines))
    }

    /// The order an earlier attempt of `new` placed, if any.
    async fn placed_before(&self, new: &NewOrder) -> Result<Option<Order>> {
        match self.store.get_order(&new.order_id).await? {
            Some(order) => same_order(new, order).map(Some),
            None => Ok(None),
        }
    }

    /// Removes the timeout of an order that was not placed. A failure is logged, not returned:
    /// the caller's answer does not depend on it, and a timeout that fires for an order that
    /// does not exist is dead-lettered by the consumer.
    async fn remove_timeout(&self, id: &OrderId) {
        if let Err(err) = self.scheduler.cancel(id).await {
            warn!(error = %cause_chain(&err), "the timeout of an order that was not placed stays; it will be dead-lettered when it fires");
        }
    }
}

/// What pricing an order found.
enum Priced {
    /// The order's lines at its products' current prices.
    Lines(Vec<OrderLine>),
    /// The order exists already: an earlier attempt placed it.
    Placed(Order),
}

/// `order`, stored under `new`'s id, if it is `new` as an earlier attempt placed it. An order
/// under the same id that is not this one is a conflict no retry resolves.
fn same_order(new: &NewOrder, order: Order) -> Result<Order> {
    let same_items = order.lines.len() == new.items.len()
        && order
            .lines
            .iter()
            .zip(&new.items)
            .all(|(line, (product, quantity))| {
                &line.product_id == product && line.quantity == *quantity
            });
    if order.user_id == new.user_id && same_items {
        Ok(order)
    } else {
        Err(Error::AlreadyExists {
            resource: Resource::Order,
            id: new.order_id.to_string(),
        })
    }
}

impl<P: ApiPorts> Storefront<P> {
    /// The caller's in-app notifications, newest first.
    pub async fn notifications(
        &self,
        user: &UserId,
        page: &PageRequest,
    ) -> Result<Page<Notification>> {
        self.store.list_notifications(user, page).await
    }
}

/// The most a unit may cost. With at most 1000 units on each of at most 50 lines, an order's
/// total stays far from overflowing.
pub const MAX_PRICE_CENTS: u64 = 1_000_000_000;
/// The most stock a product may have: any real inventory, and far from DynamoDB's number limits.
pub const MAX_STOCK: u64 = 1_000_000_000_000;
/// The longest product name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

impl<P: ApiPorts> Storefront<P> {
    #[instrument(skip_all, fields(product_id = %id))]
    pub async fn product(&self, id: &ProductId) -> Result<Product> {
        self.store
            .get_product(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                resource: Resource::Product,
                id: id.to_string(),
            })
    }

    /// Products with their available stock, in no particular order.
    pub async fn products(&self, page: &PageRequest) -> Result<Page<Product>> {
        self.store.list_products(page).await
    }

    /// Creates or replaces a product, setting its price and available stock. Only
    /// administrators may; the caller checks that.
    #[instrument(skip_all, fields(product_id = %id))]
    pub async fn put_product(
        &self,
        id: &ProductId,
        request: &PutProductRequest,
    ) -> Result<Product> {
        let name = request.name.trim();
        let mut problems = Vec::new();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            problems.push(format!("name must have 1 to {MAX_NAME_CHARS} characters"));
        }
        if request.price_cents > MAX_PRICE_CENTS {
            problems.push(format!("price_cents must be at most {MAX_PRICE_CENTS}"));
        }
        if request.stock > MAX_STOCK {
            problems.push(format!("stock must be at most {MAX_STOCK}"));
        }
        if !problems.is_empty() {
            return Err(Error::Validation(problems.join("; ")));
        }
        let product = Product {
            product_id: id.clone(),
            name: name.to_owned(),
            price_cents: request.price_cents,
            stock: request.stock,
        };
        self.store.put_product(&product).await?;
        info!(stock = product.stock, "product stock set");
        Ok(product)
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use std::sync::Arc;

    use orderflow_types::time;

    use super::*;
    use crate::ports::ApiWith;
    use crate::testing::faults::Faulty;
    use crate::testing::{
        FakeApi, FixedClock, InMemoryIdempotencyStore, InMemoryScheduler, InMemoryStore,
        SequentialIds,
    };

    type TestOrders = Storefront<FakeApi>;

    fn start() -> Timestamp {
        time::parse("2026-11-25T20:00:00Z").unwrap()
    }

    async fn orders_with(products: &[(&str, u64, u64)]) -> TestOrders {
        let store = InMemoryStore::default();
        for &(id, price_cents, stock) in products {
            store
                .put_product(&Product {
                    product_id: ProductId::parse(id).unwrap(),
                    name: id.to_uppercase(),
                    price_cents,
                    stock,
                })
                .await
                .unwrap();
        }
        Storefront {
            store,
            scheduler: InMemoryScheduler::default(),
            clock: FixedClock::at(start()),
            payment_timeout: TimeDelta::minutes(30),
            catalogue: Default::default(),
        }
    }

    fn new_order(id: &str, user: &str, items: &[(&str, u64)]) -> NewOrder {
        NewOrder {
            order_id: OrderId::parse(id).unwrap(),
            user_id: UserId::parse(user).unwrap(),
            items: items
                .iter()
                .map(|&(p, q)| (ProductId::parse(p).unwrap(), Quantity::new(q).unwrap()))
                .collect(),
            accepted_at: start(),
        }
    }

    async fn stock(orders: &TestOrders, id: &str) -> u64 {
        orders
            .product(&ProductId::parse(id).unwrap())
            .await
            .unwrap()
            .stock
    }

    #[tokio::test]
    async fn placing_reserves_stock_and_schedules_the_deadline() {
        let orders = orders_with(&[("a", 250, 5), ("b", 1000, 1)]).await;
        let order = orders
            .place(&new_order("o-1", "u-1", &[("a", 2), ("b", 1)]))
            .await
            .unwrap();
        assert_eq!(
            (order.status, order.total_cents),
            (OrderStatus::Pending, 1500)
        );
        assert_eq!(order.payment_due_at, start() + TimeDelta::minutes(30));
        assert_eq!(
            (stock(&orders, "a").await, stock(&orders, "b").await),
            (3, 0)
        );
        let pending = orders.scheduler.pending();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].payment_due_at, order.payment_due_at);
        let stored = orders.get(&order.user_id, &order.order_id).await.unwrap();
        assert_eq!(stored, order);
    }

    #[tokio::test]
    async fn placing_the_same_order_again_resumes_it_and_reserves_once() {
        let orders = orders_with(&[("a", 100, 5)]).await;
        let new = new_order("o-1", "u-1", &[("a", 2)]);
        let first = orders.place(&new).await.unwrap();
        orders.clock.advance(TimeDelta::minutes(5));
        let again = orders.place(&new).await.unwrap();
        assert_eq!(again, first, "the same order, with its original times");
        assert_eq!(stock(&orders, "a").await, 3);
        assert_eq!(orders.scheduler.pending().len(), 1);
    }

    #[tokio::test]
    async fn an_order_id_taken_by_another_order_is_a_conflict() {
        let orders = orders_with(&[("a", 100, 5)]).await;
        orders
            .place(&new_order("o-1", "u-1", &[("a", 1)]))
            .await
            .unwrap();
        let err = orders
            .place(&new_order("o-1", "u-2", &[("a", 1)]))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
        assert_eq!(stock(&orders, "a").await, 4);
    }

    #[tokio::test]
    async fn lacking_stock_reserves_nothing_and_removes_the_timeout() {
        let orders = orders_with(&[("a", 100, 1), ("b", 100, 5)]).await;
        let err = orders
            .place(&new_order("o-1", "u-1", &[("b", 2), ("a", 2)]))
            .await
            .unwrap_err();
        match err {
            Error::OutOfStock(short) => {
                assert_eq!(short.len(), 1);
                assert_eq!((short[0].product_id.as_str(), short[0].available), ("a", 1));
            }
            other => panic!("expected OutOfStock, got {other:?}"),
        }
        assert_eq!(
            (stock(&orders, "a").await, stock(&orders, "b").await),
            (1, 5)
        );
        assert!(orders.scheduler.pending().is_empty());
        let user = UserId::parse("u-1").unwrap();
        let placed = orders.list(&user, &PageRequest::first(10)).await.unwrap();
        assert!(placed.items.is_empty(), "no order is stored");
    }

    /// A storefront whose store and scheduler log every call: what placing costs in calls.
    type Counted = Storefront<
        ApiWith<
            Faulty<InMemoryStore>,
            InMemoryIdempotencyStore,
            Faulty<InMemoryScheduler>,
            FixedClock,
            SequentialIds,
        >,
    >;

    async fn counted_with(products: &[(&str, u64, u64)]) -> Counted {
        let plain = orders_with(products).await;
        Storefront {
            store: Faulty::new(plain.store, Dependency::DynamoDb),
            scheduler: Faulty::new(plain.scheduler, Dependency::Scheduler),
            clock: plain.clock,
            payment_timeout: plain.payment_timeout,
            catalogue: Catalogue::default(),
        }
    }

    /// The store's and the scheduler's calls since the last look, forgotten after.
    fn calls(orders: &Counted) -> (Vec<&'static str>, Vec<&'static str>) {
        let calls = (orders.store.calls(), orders.scheduler.calls());
        orders.store.forget_calls();
        orders.scheduler.forget_calls();
        calls
    }

    async fn set_product(orders: &Counted, id: &str, price_cents: u64, stock: u64) {
        let product = Product {
            product_id: ProductId::parse(id).unwrap(),
            name: id.to_uppercase(),
            price_cents,
            stock,
        };
        orders.store.inner().put_product(&product).await.unwrap();
    }

    #[tokio::test]
    async fn a_warm_storefront_places_an_order_with_one_schedule_and_one_transaction() {
        let orders = counted_with(&[("a", 100, 10), ("b", 250, 10)]).await;
        orders
            .place(&new_order("o-1", "u-1", &[("a", 1), ("b", 1)]))
            .await
            .unwrap();
        assert_eq!(
            calls(&orders),
            (vec!["order_and_products", "place_order"], vec!["schedule"]),
            "a cold storefront reads the products once"
        );
        let order = orders
            .place(&new_order("o-2", "u-1", &[("b", 2), ("a", 3)]))
            .await
            .unwrap();
        assert_eq!(calls(&orders), (vec!["place_order"], vec!["schedule"]));
        assert_eq!(order.total_cents, 800);
    }

    #[tokio::test]
    async fn a_changed_price_is_charged_without_reading_the_product() {
        let orders = counted_with(&[("a", 100, 10)]).await;
        orders
            .place(&new_order("o-1", "u-1", &[("a", 1)]))
            .await
            .unwrap();
        calls(&orders);
        set_product(&orders, "a", 120, 9).await;
        let order = orders
            .place(&new_order("o-2", "u-1", &[("a", 2)]))
            .await
            .unwrap();
        assert_eq!(
            order.total_cents, 240,
            "the price charged is the current one"
        );
        assert_eq!(
            calls(&orders),
            (vec!["place_order", "place_order"], vec!["schedule"])
        );
        assert_eq!(stock_counted(&orders, "a").await, 7);
    }

    async fn stock_counted(orders: &Counted, id: &str) -> u64 {
        orders
            .store
            .inner()
            .get_product(&ProductId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap()
            .stock
    }

    #[tokio::test]
    async fn an_order_known_to_be_short_is_refused_after_one_read_and_nothing_scheduled() {
        let orders = counted_with(&[("a", 100, 3)]).await;
        orders
            .place(&new_order("o-1", "u-1", &[("a", 2)]))
            .await
            .unwrap();
        calls(&orders);
        for id in ["o-2", "o-3"] {
            let err = orders
                .place(&new_order(id, "u-1", &[("a", 2)]))
                .await
                .unwrap_err();
            let Error::OutOfStock(short) = err else {
                panic!("expected OutOfStock, got {err:?}");
            };
            assert_eq!((short[0].requested, short[0].available), (2, 1));
            assert_eq!(calls(&orders), (vec!["order_and_products"], vec![]));
        }
    }

    #[tokio::test]
    async fn stock_taken_by_another_function_costs_one_scheduled_attempt_then_one_read() {
        let orders = counted_with(&[("a", 100, 5)]).await;
        orders
            .place(&new_order("o-1", "u-1", &[("a", 1)]))
            .await
            .unwrap();
        calls(&orders);
        // Another warm function, with its own catalogue, sold all but one.
        set_product(&orders, "a", 100, 1).await;
        let refused = orders.place(&new_order("o-2", "u-1", &[("a", 2)])).await;
        assert!(matches!(refused, Err(Error::OutOfStock(_))), "{refused:?}");
        assert_eq!(
            calls(&orders),
            (vec!["place_order"], vec!["schedule", "cancel"])
        );
        assert!(
            orders.scheduler.inner().pending().len() == 1,
            "only o-1's timeout"
        );
        let refused = orders.place(&new_order("o-3", "u-1", &[("a", 2)])).await;
        assert!(matches!(refused, Err(Error::OutOfStock(_))), "{refused:?}");
        assert_eq!(calls(&orders), (vec!["order_and_products"], vec![]));
        // Restocked: the read that the short hint asks for finds the stock and the order goes on.
        set_product(&orders, "a", 100, 4).await;
        orders
            .place(&new_order("o-4", "u-1", &[("a", 2)]))
            .await
            .unwrap();
        assert_eq!(
            calls(&orders),
            (vec!["order_and_products", "place_order"], vec!["schedule"])
        );
    }

    #[tokio::test]
    async fn a_retry_of_an_order_that_took_the_last_stock_returns_that_order() {
        let orders = counted_with(&[("a", 100, 2)]).await;
        let new = new_order("o-1", "u-1", &[("a", 2)]);
        let placed = orders.place(&new).await.unwrap();
        // The retry reaches another function, which has never seen the product: its read shows
        // the stock gone, taken by this very order.
        let cold = Storefront {
            catalogue: Catalogue::default(),
            ..orders
        };
        calls(&cold);
        assert_eq!(cold.place(&new).await.unwrap(), placed);
        assert_eq!(calls(&cold), (vec!["order_and_products"], vec![]));
        assert_eq!(stock_counted(&cold, "a").await, 0);
    }

    #[tokio::test]
    async fn prices_that_keep_changing_give_up_with_a_retryable_error_and_no_timeout() {
        let store = Repricing::default();
        store
            .0
            .put_product(&Product {
                product_id: ProductId::parse("a").unwrap(),
                name: "A".into(),
                price_cents: 100,
                stock: 5,
            })
            .await
            .unwrap();
        let orders: Storefront<
            ApiWith<
                Repricing,
                InMemoryIdempotencyStore,
                InMemoryScheduler,
                FixedClock,
                SequentialIds,
            >,
        > = Storefront {
            store,
            scheduler: InMemoryScheduler::default(),
            clock: FixedClock::at(start()),
            payment_timeout: TimeDelta::minutes(30),
            catalogue: Catalogue::default(),
        };
        let err = orders
            .place(&new_order("o-1", "u-1", &[("a", 1)]))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        assert!(matches!(
            std::error::Error::source(&err).and_then(|cause| cause.downcast_ref::<Error>()),
            Some(Error::PriceChanged(_))
        ));
        assert!(orders.scheduler.pending().is_empty());
        let product = orders
            .product(&ProductId::parse("a").unwrap())
            .await
            .unwrap();
        assert_eq!((product.stock, product.price_cents), (5, 100 + 3));
    }

    /// A store whose products' prices go up by a cent just before every order is placed.
    #[derive(Default)]
    struct Repricing(InMemoryStore);

    impl ProductStore for Repricing {
        async fn put_product(&self, product: &Product) -> Result<()> {
            self.0.put_product(product).await
        }
        async fn get_product(&self, id: &ProductId) -> Result<Option<Product>> {
            self.0.get_product(id).await
        }
        async fn list_products(&self, page: &PageRequest) -> Result<Page<Product>> {
            self.0.list_products(page).await
        }
    }

    impl OrderStore for Repricing {
        async fn place_order(&self, order: &Order) -> Result<()> {
            for line in &order.lines {
                if let Some(mut product) = self.0.get_product(&line.product_id).await? {
                    product.price_cents += 1;
                    self.0.put_product(&product).await?;
                }
            }
            self.0.place_order(order).await
        }
        async fn get_order(&self, id: &OrderId) -> Result<Option<Order>> {
            self.0.get_order(id).await
        }
        async fn order_and_products(
            &self,
            id: &OrderId,
            products: &[ProductId],
        ) -> Result<(Option<Order>, Vec<Product>)> {
            self.0.order_and_products(id, products).await
        }
        async fn list_orders(&self, user: &UserId, page: &PageRequest) -> Result<Page<Order>> {
            self.0.list_orders(user, page).await
        }
        async fn mark_paid(&self, id: &OrderId, at: Timestamp) -> Result<Transition> {
            self.0.mark_paid(id, at).await
        }
        async fn cancel_order(
            &self,
            order: &Order,
            reason: CancelReason,
            notification: &Notification,
            at: Timestamp,
        ) -> Result<Transition> {
            self.0.cancel_order(order, reason, notification, at).await
        }
    }

    impl NotificationStore for Repricing {
        async fn put_notification(
            &self,
            notification: &Notification,
        ) -> Result<crate::ports::Written> {
            self.0.put_notification(notification).await
        }
        async fn list_notifications(
            &self,
            user: &UserId,
            page: &PageRequest,
        ) -> Result<Page<Notification>> {
            self.0.list_notifications(user, page).await
        }
    }

    #[tokio::test]
    async fn unknown_products_are_named_before_anything_is_scheduled() {
        let orders = orders_with(&[("a", 100, 5)]).await;
        let err = orders
            .place(&new_order(
                "o-1",
                "u-1",
                &[("ghost", 1), ("a", 1), ("phantom", 2)],
            ))
            .await
            .unwrap_err();
        match err {
            Error::UnknownProducts(ids) => {
                let ids: Vec<_> = ids.iter().map(ProductId::as_str).collect();
                assert_eq!(ids, ["ghost", "phantom"]);
            }
            other => panic!("expected UnknownProducts, got {other:?}"),
        }
        assert!(orders.scheduler.pending().is_empty());
        assert_eq!(stock(&orders, "a").await, 5);
    }

    #[tokio::test]
    async fn a_retry_after_the_deadline_finishes_a_placed_order_but_places_no_new_one() {
        let orders = orders_with(&[("a", 100, 5)]).await;
        let placed = new_order("o-1", "u-1", &[("a", 1)]);
        orders.place(&placed).await.unwrap();
        orders.clock.advance(TimeDelta::minutes(31));
        // Still PENDING after its deadline: cancelled as its timeout would, which then changes
        // nothing.
        let finished = orders.place(&placed).await.unwrap();
        assert_eq!(finished.order_id, placed.order_id);
        assert_eq!(
            (finished.status, finished.cancel_reason),
            (OrderStatus::Cancelled, Some(CancelReason::PaymentTimeout))
        );

        let never_placed = new_order("o-2", "u-1", &[("a", 1)]);
        let err = orders.place(&never_placed).await.unwrap_err();
        assert!(
            matches!(err, Error::Validation(ref m) if m.contains("payment deadline")),
            "{err:?}"
        );
        assert_eq!(stock(&orders, "a").await, 5);
        assert!(orders.scheduler.pending().is_empty());
    }

    /// A scheduler whose calls take `takes` on a clock it shares with the storefront.
    struct SlowScheduler {
        inner: InMemoryScheduler,
        clock: Arc<FixedClock>,
        takes: TimeDelta,
    }

    impl TimeoutScheduler for SlowScheduler {
        async fn schedule(&self, timeout: &PaymentTimeout) -> Result<()> {
            self.clock.advance(self.takes);
            self.inner.schedule(timeout).await
        }

        async fn cancel(&self, order: &OrderId) -> Result<()> {
            self.inner.cancel(order).await
        }
    }

    #[tokio::test]
    async fn an_order_that_placing_leaves_pending_past_its_deadline_is_cancelled_as_its_timeout_would()
     {
        // A retry 1 s before the deadline, whose steps take 2 s: its timeout fires before the
        // order is stored, and the consumer finds no order to cancel. Placing cancels it.
        let clock = Arc::new(FixedClock::at(
            start() + TimeDelta::minutes(30) - TimeDelta::seconds(1),
        ));
        let store = InMemoryStore::default();
        store
            .put_product(&Product {
                product_id: ProductId::parse("a").unwrap(),
                name: "A".into(),
                price_cents: 100,
                stock: 5,
            })
            .await
            .unwrap();
        let orders: Storefront<
            ApiWith<
                InMemoryStore,
                InMemoryIdempotencyStore,
                SlowScheduler,
                Arc<FixedClock>,
                SequentialIds,
            >,
        > = Storefront {
            store,
            scheduler: SlowScheduler {
                inner: InMemoryScheduler::default(),
                clock: Arc::clone(&clock),
                takes: TimeDelta::seconds(2),
            },
            clock,
            payment_timeout: TimeDelta::minutes(30),
            catalogue: Default::default(),
        };
        let order = orders
            .place(&new_order("o-1", "u-1", &[("a", 2)]))
            .await
            .unwrap();
        assert_eq!(
            (order.status, order.cancel_reason),
            (OrderStatus::Cancelled, Some(CancelReason::PaymentTimeout))
        );
        let product = orders
            .product(&ProductId::parse("a").unwrap())
            .await
            .unwrap();
        assert_eq!(product.stock, 5, "the units are back");
        assert!(orders.scheduler.inner.pending().is_empty());
        let notices = orders
            .notifications(&UserId::parse("u-1").unwrap(), &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(notices.items.len(), 1);
        assert_eq!(notices.items[0].kind, NotificationKind::OrderCancelled);
    }

    #[tokio::test]
    async fn another_users_order_does_not_exist_for_the_caller() {
        let orders = orders_with(&[("a", 100, 5)]).await;
        let order = orders
            .place(&new_order("o-1", "u-1", &[("a", 1)]))
            .await
            .unwrap();
        let stranger = UserId::parse("u-2").unwrap();
        for result in [
            orders.get(&stranger, &order.order_id).await,
            orders.pay(&stranger, &order.order_id).await,
            orders.cancel(&stranger, &order.order_id).await,
        ] {
            assert!(
                matches!(
                    result,
                    Err(Error::NotFound {
                        resource: Resource::Order,
                        ..
                    })
                ),
                "{result:?}"
            );
        }
        assert_eq!(
            orders.get(&order.user_id, &order.order_id).await.unwrap(),
            order
        );
    }

    #[tokio::test]
    async fn paying_twice_succeeds_and_a_cancelled_order_cannot_be_paid() {
        let orders = orders_with(&[("a", 100, 5)]).await;
        let order = orders
            .place(&new_order("o-1", "u-1", &[("a", 2)]))
            .await
            .unwrap();
        orders.clock.advance(TimeDelta::minutes(3));
        let paid = orders.pay(&order.user_id, &order.order_id).await.unwrap();
        assert_eq!(
            (paid.status, paid.updated_at),
            (OrderStatus::Paid, start() + TimeDelta::minutes(3))
        );
        assert!(orders.scheduler.pending().is_empty());
        orders.clock.advance(TimeDelta::minutes(1));
        assert_eq!(
            orders.pay(&order.user_id, &order.order_id).await.unwrap(),
            paid
        );
        let err = orders
            .cancel(&order.user_id, &order.order_id)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::WrongStatus {
                    current: OrderStatus::Paid
                }
            ),
            "{err:?}"
        );
        assert_eq!(stock(&orders, "a").await, 3);

        let other = orders
            .place(&new_order("o-2", "u-1", &[("a", 1)]))
            .await
            .unwrap();
        orders
            .cancel(&other.user_id, &other.order_id)
            .await
            .unwrap();
        let err = orders
            .pay(&other.user_id, &other.order_id)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::WrongStatus {
                    current: OrderStatus::Cancelled
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn cancelling_returns_stock_notifies_and_removes_the_timeout() {
        let orders = orders_with(&[("a", 100, 5)]).await;
        let order = orders
            .place(&new_order("o-1", "u-1", &[("a", 2)]))
            .await
            .unwrap();
        let cancelled = orders
            .cancel(&order.user_id, &order.order_id)
            .await
            .unwrap();
        assert_eq!(
            (cancelled.status, cancelled.cancel_reason),
            (OrderStatus::Cancelled, Some(CancelReason::Customer))
        );
        assert_eq!(stock(&orders, "a").await, 5);
        assert!(orders.scheduler.pending().is_empty());
        let again = orders
            .cancel(&order.user_id, &order.order_id)
            .await
            .unwrap();
        assert_eq!(again, cancelled);
        assert_eq!(stock(&orders, "a").await, 5, "stock is returned once");
        let notices = orders
            .notifications(&order.user_id, &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(notices.items.len(), 1);
        assert_eq!(notices.items[0].notification_id, "o-1#order_cancelled");
    }

    #[tokio::test]
    async fn an_order_cancelled_by_its_timeout_is_returned_as_it_is() {
        let orders = orders_with(&[("a", 100, 5)]).await;
        let order = orders
            .place(&new_order("o-1", "u-1", &[("a", 2)]))
            .await
            .unwrap();
        let notice = Notification::new(
            order.user_id.clone(),
            order.order_id.clone(),
            NotificationKind::OrderCancelled,
            "not paid in time",
            start(),
        );
        orders
            .store
            .cancel_order(&order, CancelReason::PaymentTimeout, &notice, start())
            .await
            .unwrap();
        let current = orders
            .cancel(&order.user_id, &order.order_id)
            .await
            .unwrap();
        assert_eq!(current.cancel_reason, Some(CancelReason::PaymentTimeout));
        assert_eq!(stock(&orders, "a").await, 5, "stock is returned once");
    }

    #[tokio::test]
    async fn product_updates_are_validated_before_they_are_stored() {
        let orders = orders_with(&[]).await;
        let id = ProductId::parse("sku-1").unwrap();
        let put = |name: &str, price_cents, stock| PutProductRequest {
            name: name.into(),
            price_cents,
            stock,
        };
        let product = orders
            .put_product(&id, &put("  Mug ", 1450, 40))
            .await
            .unwrap();
        assert_eq!((product.name.as_str(), product.stock), ("Mug", 40));
        assert_eq!(orders.product(&id).await.unwrap(), product);
        let err = orders
            .put_product(&id, &put(" ", MAX_PRICE_CENTS + 1, MAX_STOCK + 1))
            .await
            .unwrap_err();
        match err {
            Error::Validation(message) => {
                for field in ["name", "price_cents", "stock"] {
                    assert!(message.contains(field), "{message}");
                }
            }
            other => panic!("expected Validation, got {other:?}"),
        }
        assert_eq!(orders.product(&id).await.unwrap().stock, 40);
        let missing = ProductId::parse("nope").unwrap();
        assert!(matches!(
            orders.product(&missing).await,
            Err(Error::NotFound {
                resource: Resource::Product,
                ..
            })
        ));
    }
}
