//! Failure injection around real adapters: [`Faulty`] passes every call through to the adapter it
//! wraps, except calls a test armed to fail. A call can fail before it reaches the service, or
//! after the service applied it, as when a response is lost on the way back; the second is the
//! failure that idempotent retries exist for.

use std::future::Future;
use std::sync::Mutex;

use orderflow_types::{
    CancelReason, DailySales, Notification, Order, OrderEvent, OrderId, PaymentTimeout, Product,
    ProductId, ProductSales, Timestamp, UserId,
};

use crate::error::{Dependency, Error, Result};
use crate::ports::{
    Claim, EventPublisher, IdempotencyRecord, IdempotencyStore, NotificationStore, OrderStore,
    Page, PageRequest, ProductStore, SalesStore, StoredResponse, TimeoutScheduler, Transition,
    Written,
};

/// When an armed call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Before reaching the service: nothing happened.
    Before,
    /// After the service applied the call: it happened, but the caller is told it failed.
    After,
}

/// An adapter whose calls fail when a test says so. Named operations are the port methods'
/// names (`place_order`, `schedule`, `publish`, …).
#[derive(Debug)]
pub struct Faulty<T> {
    inner: T,
    dependency: Dependency,
    armed: Mutex<Vec<(&'static str, When)>>,
    fired: Mutex<Vec<&'static str>>,
    calls: Mutex<Vec<&'static str>>,
}

impl<T> Faulty<T> {
    /// Wraps `inner`, whose failures are reported as failures of `dependency`.
    pub fn new(inner: T, dependency: Dependency) -> Self {
        Self {
            inner,
            dependency,
            armed: Mutex::new(Vec::new()),
            fired: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
        }
    }

    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// Makes the next call of `operation` fail, `when` says how.
    pub fn fail_next(&self, operation: &'static str, when: When) {
        lock(&self.armed).push((operation, when));
    }

    /// The operations that failed so far, in order: a test checks that its fault was hit.
    pub fn fired(&self) -> Vec<&'static str> {
        lock(&self.fired).clone()
    }

    /// Every operation called so far, failed or not, in order: what a use case costs in calls.
    pub fn calls(&self) -> Vec<&'static str> {
        lock(&self.calls).clone()
    }

    /// Forgets the calls made so far.
    pub fn forget_calls(&self) {
        lock(&self.calls).clear();
    }

    /// Forgets the faults not hit yet.
    pub fn disarm(&self) {
        lock(&self.armed).clear();
    }

    fn trip(&self, operation: &'static str, when: When) -> Result<()> {
        let mut armed = lock(&self.armed);
        let Some(at) = armed.iter().position(|&armed| armed == (operation, when)) else {
            return Ok(());
        };
        armed.remove(at);
        lock(&self.fired).push(operation);
        Err(Error::Unavailable {
            dependency: self.dependency,
            action: operation,
            source: format!("{operation} failed {when:?} by the test").into(),
        })
    }

    /// Runs `call` unless armed to fail before it; fails after it if armed so.
    async fn around<R>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<R>>,
    ) -> Result<R> {
        // `call` is a future: nothing of it has run until it is awaited here.
        lock(&self.calls).push(operation);
        self.trip(operation, When::Before)?;
        let result = call.await;
        self.trip(operation, When::After)?;
        result
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test must not hide its cause behind poisoned-lock panics in others.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T: ProductStore> ProductStore for Faulty<T> {
    async fn put_product(&self, product: &Product) -> Result<()> {
        self.around("put_product", self.inner.put_product(product))
            .await
    }

    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>> {
        self.around("get_product", self.inner.get_product(id)).await
    }

    async fn list_products(&self, page: &PageRequest) -> Result<Page<Product>> {
        self.around("list_products", self.inner.list_products(page))
            .await
    }
}

impl<T: OrderStore> OrderStore for Faulty<T> {
    async fn place_order(&self, order: &Order) -> Result<()> {
        self.around("place_order", self.inner.place_order(order))
            .await
    }

    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>> {
        self.around("get_order", self.inner.get_order(id)).await
    }

    async fn order_and_products(
        &self,
        id: &OrderId,
        products: &[ProductId],
    ) -> Result<(Option<Order>, Vec<Product>)> {
        self.around(
            "order_and_products",
            self.inner.order_and_products(id, products),
        )
        .await
    }

    async fn list_orders(&self, user: &UserId, page: &PageRequest) -> Result<Page<Order>> {
        self.around("list_orders", self.inner.list_orders(user, page))
            .await
    }

    async fn mark_paid(&self, id: &OrderId, at: Timestamp) -> Result<Transition> {
        self.around("mark_paid", self.inner.mark_paid(id, at)).await
    }

    async fn cancel_order(
        &self,
        order: &Order,
        reason: CancelReason,
        notification: &Notification,
        at: Timestamp,
    ) -> Result<Transition> {
        self.around(
            "cancel_order",
            self.inner.cancel_order(order, reason, notification, at),
        )
        .await
    }
}

impl<T: NotificationStore> NotificationStore for Faulty<T> {
    async fn put_notification(&self, notification: &Notification) -> Result<Written> {
        self.around(
            "put_notification",
            self.inner.put_notification(notification),
        )
        .await
    }

    async fn list_notifications(
        &self,
        user: &UserId,
        page: &PageRequest,
    ) -> Result<Page<Notification>> {
        self.around(
            "list_notifications",
            self.inner.list_notifications(user, page),
        )
        .await
    }
}

impl<T: SalesStore> SalesStore for Faulty<T> {
    async fn record_sale(&self, order: &Order, paid_at: Timestamp) -> Result<Written> {
        self.around("record_sale", self.inner.record_sale(order, paid_at))
            .await
    }

    async fn daily_sales(&self, day: &str) -> Result<DailySales> {
        self.around("daily_sales", self.inner.daily_sales(day))
            .await
    }

    async fn product_sales(&self, product: &ProductId) -> Result<ProductSales> {
        self.around("product_sales", self.inner.product_sales(product))
            .await
    }
}

impl<T: IdempotencyStore> IdempotencyStore for Faulty<T> {
    async fn claim(&self, record: &IdempotencyRecord, now: Timestamp) -> Result<Claim> {
        self.around("claim", self.inner.claim(record, now)).await
    }

    async fn take_over(
        &self,
        existing: &IdempotencyRecord,
        lease_until: Timestamp,
    ) -> Result<Option<IdempotencyRecord>> {
        self.around("take_over", self.inner.take_over(existing, lease_until))
            .await
    }

    async fn complete(&self, record: &IdempotencyRecord, response: &StoredResponse) -> Result<()> {
        self.around("complete", self.inner.complete(record, response))
            .await
    }

    async fn release(&self, record: &IdempotencyRecord) -> Result<()> {
        self.around("release", self.inner.release(record)).await
    }
}

impl<T: TimeoutScheduler> TimeoutScheduler for Faulty<T> {
    async fn schedule(&self, timeout: &PaymentTimeout) -> Result<()> {
        self.around("schedule", self.inner.schedule(timeout)).await
    }

    async fn cancel(&self, order: &OrderId) -> Result<()> {
        self.around("cancel", self.inner.cancel(order)).await
    }
}

impl<T: EventPublisher> EventPublisher for Faulty<T> {
    async fn publish(&self, event: &OrderEvent) -> Result<()> {
        self.around("publish", self.inner.publish(event)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::InMemoryScheduler;
    use orderflow_types::time;

    fn timeout() -> PaymentTimeout {
        PaymentTimeout {
            order_id: OrderId::parse("o-1").unwrap(),
            user_id: UserId::parse("u-1").unwrap(),
            payment_due_at: time::parse("2026-11-25T20:30:00Z").unwrap(),
        }
    }

    #[tokio::test]
    async fn a_fault_before_the_call_leaves_the_service_untouched() {
        let scheduler = Faulty::new(InMemoryScheduler::default(), Dependency::Scheduler);
        scheduler.fail_next("schedule", When::Before);
        let err = scheduler.schedule(&timeout()).await.unwrap_err();
        assert!(err.is_retryable());
        assert!(scheduler.inner().pending().is_empty());
        scheduler
            .schedule(&timeout())
            .await
            .expect("the fault fires once");
        assert_eq!(scheduler.inner().pending().len(), 1);
        assert_eq!(scheduler.fired(), ["schedule"]);
    }

    #[tokio::test]
    async fn a_fault_after_the_call_hides_a_change_that_happened() {
        let scheduler = Faulty::new(InMemoryScheduler::default(), Dependency::Scheduler);
        scheduler.fail_next("schedule", When::After);
        scheduler.fail_next("cancel", When::Before);
        assert!(scheduler.schedule(&timeout()).await.is_err());
        assert_eq!(scheduler.inner().pending().len(), 1);
        assert_eq!(scheduler.fired(), ["schedule"]);
        scheduler.disarm();
        scheduler
            .cancel(&timeout().order_id)
            .await
            .expect("disarmed");
        assert!(scheduler.inner().pending().is_empty());
    }
}
