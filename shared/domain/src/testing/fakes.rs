use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use orderflow_types::{
    CancelReason, DailySales, EventId, Notification, Order, OrderEvent, OrderId, OrderStatus,
    PaymentTimeout, Product, ProductId, ProductSales, Timestamp, UserId,
};

use crate::error::{Error, Resource, Result, Shortage};
use crate::ports::{
    Clock, EventPublisher, IdSource, NotificationStore, OrderStore, Page, PageRequest,
    ProductStore, SalesStore, TimeoutScheduler, Transition, Written,
};
use crate::ports::{DeadLetters, RawRecord};

/// A clock that stands still until moved.
#[derive(Debug)]
pub struct FixedClock(Mutex<Timestamp>);

impl FixedClock {
    pub fn at(now: Timestamp) -> Self {
        Self(Mutex::new(now))
    }

    pub fn advance(&self, by: chrono::TimeDelta) {
        *lock(&self.0) += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *lock(&self.0)
    }
}

/// Ids `order-1`, `order-2`, … and `event-1`, …
#[derive(Debug, Default)]
pub struct SequentialIds(AtomicU64);

impl IdSource for SequentialIds {
    fn order_id(&self) -> OrderId {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        OrderId::parse(format!("order-{n}")).expect("valid id")
    }

    fn event_id(&self) -> EventId {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        EventId::parse(format!("event-{n}")).expect("valid id")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test must not hide its cause behind poisoned-lock panics in others.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, Default)]
struct State {
    products: BTreeMap<ProductId, Product>,
    orders: BTreeMap<OrderId, Order>,
    notifications: BTreeMap<(UserId, String), Notification>,
    sales: BTreeSet<OrderId>,
    daily: BTreeMap<String, DailySales>,
    units: BTreeMap<ProductId, u64>,
}

/// Every store port in memory, with the same all-or-nothing semantics as the DynamoDB adapter.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
}

/// Pages over an in-memory listing; the cursor is the offset of the next item.
fn paginate<T: Clone>(items: Vec<T>, request: &PageRequest) -> Result<Page<T>> {
    let start = match &request.cursor {
        None => 0,
        Some(cursor) => cursor
            .parse::<usize>()
            .map_err(|_| Error::Validation("cursor is not one this listing returned".into()))?,
    };
    let end = (start + usize::from(request.limit)).min(items.len());
    Ok(Page {
        items: items.get(start..end).unwrap_or_default().to_vec(),
        next_cursor: (end < items.len()).then(|| end.to_string()),
    })
}

impl ProductStore for InMemoryStore {
    async fn put_product(&self, product: &Product) -> Result<()> {
        lock(&self.state)
            .products
            .insert(product.product_id.clone(), product.clone());
        Ok(())
    }

    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>> {
        Ok(lock(&self.state).products.get(id).cloned())
    }

    async fn list_products(&self, page: &PageRequest) -> Result<Page<Product>> {
        let products = lock(&self.state).products.values().cloned().collect();
        paginate(products, page)
    }
}

impl OrderStore for InMemoryStore {
    async fn place_order(&self, order: &Order) -> Result<()> {
        let mut state = lock(&self.state);
        if state.orders.contains_key(&order.order_id) {
            return Err(Error::AlreadyExists {
                resource: Resource::Order,
                id: order.order_id.to_string(),
            });
        }
        let mut unknown = Vec::new();
        let mut short = Vec::new();
        let mut repriced = Vec::new();
        for line in &order.lines {
            match state.products.get(&line.product_id) {
                None => unknown.push(line.product_id.clone()),
                Some(product) if product.stock < u64::from(line.quantity.get()) => {
                    short.push(Shortage {
                        product_id: line.product_id.clone(),
                        requested: line.quantity.get(),
                        available: product.stock,
                    })
                }
                Some(product) if product.price_cents != line.unit_price_cents => {
                    repriced.push(product.clone())
                }
                Some(_) => {}
            }
        }
        if !unknown.is_empty() {
            return Err(Error::UnknownProducts(unknown));
        }
        if !short.is_empty() {
            return Err(Error::OutOfStock(short));
        }
        if !repriced.is_empty() {
            return Err(Error::PriceChanged(repriced));
        }
        for line in &order.lines {
            if let Some(product) = state.products.get_mut(&line.product_id) {
                product.stock -= u64::from(line.quantity.get());
            }
        }
        state.orders.insert(order.order_id.clone(), order.clone());
        Ok(())
    }

    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>> {
        Ok(lock(&self.state).orders.get(id).cloned())
    }

    async fn order_and_products(
        &self,
        id: &OrderId,
        products: &[ProductId],
    ) -> Result<(Option<Order>, Vec<Product>)> {
        let state = lock(&self.state);
        let found = products
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|product| state.products.get(product).cloned())
            .collect();
        Ok((state.orders.get(id).cloned(), found))
    }

    async fn list_orders(&self, user: &UserId, page: &PageRequest) -> Result<Page<Order>> {
        let mut orders: Vec<Order> = lock(&self.state)
            .orders
            .values()
            .filter(|o| &o.user_id == user)
            .cloned()
            .collect();
        orders.sort_by_key(|order| std::cmp::Reverse(order.created_at));
        paginate(orders, page)
    }

    async fn mark_paid(&self, id: &OrderId, at: Timestamp) -> Result<Transition> {
        let mut state = lock(&self.state);
        let order = state.orders.get_mut(id).ok_or_else(|| Error::NotFound {
            resource: Resource::Order,
            id: id.to_string(),
        })?;
        if order.status != OrderStatus::Pending {
            return Ok(Transition::NotPending(order.clone()));
        }
        order.status = OrderStatus::Paid;
        order.updated_at = at;
        Ok(Transition::Applied(order.clone()))
    }

    async fn cancel_order(
        &self,
        order: &Order,
        reason: CancelReason,
        notification: &Notification,
        at: Timestamp,
    ) -> Result<Transition> {
        let mut state = lock(&self.state);
        let stored = state
            .orders
            .get_mut(&order.order_id)
            .ok_or_else(|| Error::NotFound {
                resource: Resource::Order,
                id: order.order_id.to_string(),
            })?;
        if stored.status != OrderStatus::Pending {
            return Ok(Transition::NotPending(stored.clone()));
        }
        stored.status = OrderStatus::Cancelled;
        stored.cancel_reason = Some(reason);
        stored.updated_at = at;
        let cancelled = stored.clone();
        for line in &order.lines {
            let product = state
                .products
                .entry(line.product_id.clone())
                .or_insert_with(|| Product {
                    product_id: line.product_id.clone(),
                    name: String::new(),
                    price_cents: 0,
                    stock: 0,
                });
            product.stock += u64::from(line.quantity.get());
        }
        state.notifications.insert(
            (
                notification.user_id.clone(),
                notification.notification_id.clone(),
            ),
            notification.clone(),
        );
        Ok(Transition::Applied(cancelled))
    }
}

impl NotificationStore for InMemoryStore {
    async fn put_notification(&self, notification: &Notification) -> Result<Written> {
        let mut state = lock(&self.state);
        let key = (
            notification.user_id.clone(),
            notification.notification_id.clone(),
        );
        if state.notifications.contains_key(&key) {
            return Ok(Written::AlreadyExisted);
        }
        state.notifications.insert(key, notification.clone());
        Ok(Written::Created)
    }

    async fn list_notifications(
        &self,
        user: &UserId,
        page: &PageRequest,
    ) -> Result<Page<Notification>> {
        let mut notifications: Vec<Notification> = lock(&self.state)
            .notifications
            .values()
            .filter(|n| &n.user_id == user)
            .cloned()
            .collect();
        notifications.sort_by_key(|notification| std::cmp::Reverse(notification.created_at));
        paginate(notifications, page)
    }
}

impl SalesStore for InMemoryStore {
    async fn record_sale(&self, order: &Order, paid_at: Timestamp) -> Result<Written> {
        let mut state = lock(&self.state);
        if !state.sales.insert(order.order_id.clone()) {
            return Ok(Written::AlreadyExisted);
        }
        let day = paid_at.format("%Y-%m-%d").to_string();
        let daily = state.daily.entry(day.clone()).or_insert(DailySales {
            day,
            paid_orders: 0,
            revenue_cents: 0,
        });
        daily.paid_orders += 1;
        daily.revenue_cents += order.total_cents;
        for line in &order.lines {
            *state.units.entry(line.product_id.clone()).or_default() +=
                u64::from(line.quantity.get());
        }
        Ok(Written::Created)
    }

    async fn daily_sales(&self, day: &str) -> Result<DailySales> {
        Ok(lock(&self.state)
            .daily
            .get(day)
            .cloned()
            .unwrap_or(DailySales {
                day: day.to_owned(),
                paid_orders: 0,
                revenue_cents: 0,
            }))
    }

    async fn product_sales(&self, product: &ProductId) -> Result<ProductSales> {
        Ok(ProductSales {
            product_id: product.clone(),
            units_sold: lock(&self.state).units.get(product).copied().unwrap_or(0),
        })
    }
}

/// Keeps every published event, in order.
#[derive(Debug, Default)]
pub struct RecordingPublisher {
    events: Mutex<Vec<OrderEvent>>,
}

impl RecordingPublisher {
    pub fn events(&self) -> Vec<OrderEvent> {
        lock(&self.events).clone()
    }
}

impl EventPublisher for RecordingPublisher {
    async fn publish(&self, event: &OrderEvent) -> Result<()> {
        lock(&self.events).push(event.clone());
        Ok(())
    }
}

/// Keeps the pending timeouts by order, with the Scheduler's idempotent create and delete.
#[derive(Debug, Default)]
pub struct InMemoryScheduler {
    pending: Mutex<BTreeMap<OrderId, PaymentTimeout>>,
}

impl InMemoryScheduler {
    pub fn pending(&self) -> Vec<PaymentTimeout> {
        lock(&self.pending).values().cloned().collect()
    }
}

impl TimeoutScheduler for InMemoryScheduler {
    async fn schedule(&self, timeout: &PaymentTimeout) -> Result<()> {
        lock(&self.pending)
            .entry(timeout.order_id.clone())
            .or_insert_with(|| timeout.clone());
        Ok(())
    }

    async fn cancel(&self, order: &OrderId) -> Result<()> {
        lock(&self.pending).remove(order);
        Ok(())
    }
}

/// Keeps every dead-lettered record with its reason.
#[derive(Debug, Default)]
pub struct RecordingDeadLetters {
    records: Mutex<Vec<(RawRecord, String)>>,
}

impl RecordingDeadLetters {
    pub fn records(&self) -> Vec<(RawRecord, String)> {
        lock(&self.records).clone()
    }
}

impl DeadLetters for RecordingDeadLetters {
    async fn dead_letter(&self, record: &RawRecord, reason: &str) -> Result<()> {
        lock(&self.records).push((record.clone(), reason.to_owned()));
        Ok(())
    }
}
