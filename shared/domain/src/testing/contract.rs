//! Behaviour every store must have. [`store_contract_tests!`](crate::store_contract_tests) turns
//! each function into a test for a given store, so the in-memory fake and the DynamoDB adapter are
//! held to the same contract.

use orderflow_types::{
    CancelReason, Notification, NotificationKind, Order, OrderId, OrderLine, OrderStatus, Product,
    ProductId, Quantity, Timestamp, UserId, time,
};

use crate::error::Error;
use crate::ports::{
    NotificationStore, OrderStore, PageRequest, ProductStore, SalesStore, Transition, Written,
};

/// A store with every store port.
pub trait Store: ProductStore + OrderStore + NotificationStore + SalesStore {}
impl<T: ProductStore + OrderStore + NotificationStore + SalesStore> Store for T {}

fn at(minute: u32) -> Timestamp {
    time::parse(&format!("2026-11-25T20:{minute:02}:00Z")).expect("valid time")
}

fn product_id(id: &str) -> ProductId {
    ProductId::parse(id).expect("valid id")
}

fn user(id: &str) -> UserId {
    UserId::parse(id).expect("valid id")
}

async fn product<S: Store>(store: &S, id: &str, price_cents: u64, stock: u64) {
    let product = Product {
        product_id: product_id(id),
        name: format!("Product {id}"),
        price_cents,
        stock,
    };
    store.put_product(&product).await.expect("put product");
}

async fn stock<S: Store>(store: &S, id: &str) -> u64 {
    store
        .get_product(&product_id(id))
        .await
        .expect("get product")
        .expect("product exists")
        .stock
}

fn order(id: &str, owner: &str, minute: u32, lines: &[(&str, u64, u64)]) -> Order {
    let lines = lines
        .iter()
        .map(|&(product, units, price)| OrderLine {
            product_id: product_id(product),
            quantity: Quantity::new(units).expect("valid quantity"),
            unit_price_cents: price,
        })
        .collect();
    Order::new_pending(
        OrderId::parse(id).expect("valid id"),
        user(owner),
        lines,
        at(minute),
        at(minute + 30),
    )
}

fn cancelled_notice(order: &Order) -> Notification {
    Notification::new(
        order.user_id.clone(),
        order.order_id.clone(),
        NotificationKind::OrderCancelled,
        "order cancelled: not paid in time",
        at(45),
    )
}

pub async fn placing_an_order_reserves_every_line<S: Store>(store: &S) {
    product(store, "a", 100, 10).await;
    product(store, "b", 250, 3).await;
    let placed = order("o-1", "u-1", 0, &[("a", 4, 100), ("b", 3, 250)]);
    store.place_order(&placed).await.expect("placed");
    assert_eq!((stock(store, "a").await, stock(store, "b").await), (6, 0));
    assert_eq!(
        store.get_order(&placed.order_id).await.expect("get"),
        Some(placed)
    );
}

pub async fn out_of_stock_names_every_short_line_and_reserves_nothing<S: Store>(store: &S) {
    product(store, "a", 100, 5).await;
    product(store, "b", 100, 1).await;
    product(store, "c", 100, 0).await;
    let wanted = order(
        "o-1",
        "u-1",
        0,
        &[("a", 5, 100), ("b", 2, 100), ("c", 1, 100)],
    );
    match store.place_order(&wanted).await {
        Err(Error::OutOfStock(short)) => {
            let short: Vec<_> = short
                .iter()
                .map(|s| (s.product_id.as_str(), s.requested, s.available))
                .collect();
            assert_eq!(short, [("b", 2, 1), ("c", 1, 0)]);
        }
        other => panic!("expected OutOfStock, got {other:?}"),
    }
    assert_eq!(
        stock(store, "a").await,
        5,
        "no line is reserved when one is short"
    );
    assert_eq!(store.get_order(&wanted.order_id).await.expect("get"), None);
}

pub async fn unknown_products_are_named_and_nothing_is_reserved<S: Store>(store: &S) {
    product(store, "a", 100, 5).await;
    let wanted = order("o-1", "u-1", 0, &[("a", 1, 100), ("ghost", 1, 100)]);
    match store.place_order(&wanted).await {
        Err(Error::UnknownProducts(unknown)) => assert_eq!(unknown, [product_id("ghost")]),
        other => panic!("expected UnknownProducts, got {other:?}"),
    }
    assert_eq!(stock(store, "a").await, 5);
}

pub async fn an_order_at_a_changed_price_is_refused_with_the_product_as_it_is<S: Store>(store: &S) {
    product(store, "a", 100, 5).await;
    product(store, "b", 250, 5).await;
    let wanted = order("o-1", "u-1", 0, &[("a", 1, 100), ("b", 2, 200)]);
    match store.place_order(&wanted).await {
        Err(Error::PriceChanged(current)) => {
            let current: Vec<_> = current
                .iter()
                .map(|p| (p.product_id.as_str(), p.price_cents, p.stock))
                .collect();
            assert_eq!(current, [("b", 250, 5)]);
        }
        other => panic!("expected PriceChanged, got {other:?}"),
    }
    assert_eq!((stock(store, "a").await, stock(store, "b").await), (5, 5));
    assert_eq!(store.get_order(&wanted.order_id).await.expect("get"), None);
    let repriced = order("o-1", "u-1", 0, &[("a", 1, 100), ("b", 2, 250)]);
    store
        .place_order(&repriced)
        .await
        .expect("placed at the current prices");
    assert_eq!((stock(store, "a").await, stock(store, "b").await), (4, 3));
}

pub async fn a_short_line_outweighs_a_changed_price<S: Store>(store: &S) {
    product(store, "a", 100, 1).await;
    product(store, "b", 250, 5).await;
    let wanted = order("o-1", "u-1", 0, &[("a", 2, 90), ("b", 1, 200)]);
    match store.place_order(&wanted).await {
        Err(Error::OutOfStock(short)) => {
            let short: Vec<_> = short
                .iter()
                .map(|s| (s.product_id.as_str(), s.requested, s.available))
                .collect();
            assert_eq!(short, [("a", 2, 1)]);
        }
        other => panic!("expected OutOfStock, got {other:?}"),
    }
}

pub async fn an_order_and_its_products_are_read_together<S: Store>(store: &S) {
    product(store, "a", 100, 5).await;
    product(store, "b", 250, 3).await;
    let id = OrderId::parse("o-1").expect("valid id");
    let wanted = [
        product_id("a"),
        product_id("ghost"),
        product_id("b"),
        product_id("a"),
    ];
    let (placed, mut found) = store.order_and_products(&id, &wanted).await.expect("read");
    found.sort_by(|x, y| x.product_id.cmp(&y.product_id));
    let found: Vec<_> = found
        .iter()
        .map(|p| (p.product_id.as_str(), p.price_cents, p.stock))
        .collect();
    assert_eq!((placed, found), (None, vec![("a", 100, 5), ("b", 250, 3)]));

    let order = order("o-1", "u-1", 0, &[("a", 2, 100)]);
    store.place_order(&order).await.expect("placed");
    let (placed, found) = store
        .order_and_products(&id, &[product_id("a")])
        .await
        .expect("read");
    let stocks: Vec<_> = found.iter().map(|p| p.stock).collect();
    assert_eq!((placed, stocks), (Some(order), vec![3]));
}

pub async fn placing_the_same_order_twice_reserves_once<S: Store>(store: &S) {
    product(store, "a", 100, 5).await;
    let placed = order("o-1", "u-1", 0, &[("a", 2, 100)]);
    store.place_order(&placed).await.expect("placed");
    assert!(matches!(
        store.place_order(&placed).await,
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(stock(store, "a").await, 3);
}

pub async fn paying_applies_once_and_reports_the_final_status<S: Store>(store: &S) {
    product(store, "a", 100, 5).await;
    let placed = order("o-1", "u-1", 0, &[("a", 2, 100)]);
    store.place_order(&placed).await.expect("placed");
    match store
        .mark_paid(&placed.order_id, at(5))
        .await
        .expect("paid")
    {
        Transition::Applied(paid) => {
            assert_eq!((paid.status, paid.updated_at), (OrderStatus::Paid, at(5)));
        }
        other => panic!("expected Applied, got {other:?}"),
    }
    match store
        .mark_paid(&placed.order_id, at(6))
        .await
        .expect("paid again")
    {
        Transition::NotPending(current) => assert_eq!(
            (current.status, current.updated_at),
            (OrderStatus::Paid, at(5))
        ),
        other => panic!("expected NotPending, got {other:?}"),
    }
    let missing = OrderId::parse("missing").expect("valid id");
    assert!(matches!(
        store.mark_paid(&missing, at(5)).await,
        Err(Error::NotFound { .. })
    ));
}

pub async fn cancelling_restores_stock_and_notifies_exactly_once<S: Store>(store: &S) {
    product(store, "a", 100, 5).await;
    product(store, "b", 100, 5).await;
    let placed = order("o-1", "u-1", 0, &[("a", 2, 100), ("b", 5, 100)]);
    store.place_order(&placed).await.expect("placed");
    let notice = cancelled_notice(&placed);
    for attempt in 0..3 {
        let outcome = store
            .cancel_order(&placed, CancelReason::PaymentTimeout, &notice, at(45))
            .await;
        match (attempt, outcome.expect("cancel")) {
            (0, Transition::Applied(cancelled)) => {
                assert_eq!(cancelled.status, OrderStatus::Cancelled);
                assert_eq!(cancelled.cancel_reason, Some(CancelReason::PaymentTimeout));
            }
            (_, Transition::NotPending(current)) if attempt > 0 => {
                assert_eq!(current.status, OrderStatus::Cancelled)
            }
            (attempt, other) => panic!("attempt {attempt}: unexpected {other:?}"),
        }
    }
    assert_eq!((stock(store, "a").await, stock(store, "b").await), (5, 5));
    let stored = store
        .get_order(&placed.order_id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (stored.status, stored.cancel_reason),
        (OrderStatus::Cancelled, Some(CancelReason::PaymentTimeout))
    );
    let notices = store
        .list_notifications(&placed.user_id, &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(notices.items, [notice]);
}

pub async fn a_paid_order_cannot_be_cancelled<S: Store>(store: &S) {
    product(store, "a", 100, 5).await;
    let placed = order("o-1", "u-1", 0, &[("a", 2, 100)]);
    store.place_order(&placed).await.expect("placed");
    store
        .mark_paid(&placed.order_id, at(5))
        .await
        .expect("paid");
    let outcome = store
        .cancel_order(
            &placed,
            CancelReason::Customer,
            &cancelled_notice(&placed),
            at(45),
        )
        .await
        .expect("cancel");
    assert!(
        matches!(outcome, Transition::NotPending(ref o) if o.status == OrderStatus::Paid),
        "{outcome:?}"
    );
    assert_eq!(stock(store, "a").await, 3, "a paid order keeps its stock");
    let notices = store
        .list_notifications(&placed.user_id, &PageRequest::default())
        .await
        .expect("list");
    assert!(notices.items.is_empty());
    let missing = order("missing", "u-1", 0, &[("a", 1, 100)]);
    let outcome = store
        .cancel_order(
            &missing,
            CancelReason::Customer,
            &cancelled_notice(&missing),
            at(45),
        )
        .await;
    assert!(
        matches!(outcome, Err(Error::NotFound { .. })),
        "{outcome:?}"
    );
    assert_eq!(stock(store, "a").await, 3);
}

pub async fn notifications_are_written_once_and_listed_newest_first<S: Store>(store: &S) {
    let owner = user("u-1");
    let notices: Vec<Notification> = (0..5)
        .map(|minute| {
            Notification::new(
                owner.clone(),
                OrderId::parse(format!("o-{minute}")).expect("valid id"),
                NotificationKind::OrderCreated,
                "order created",
                at(minute),
            )
        })
        .collect();
    for notice in &notices {
        assert_eq!(
            store.put_notification(notice).await.expect("put"),
            Written::Created
        );
        assert_eq!(
            store.put_notification(notice).await.expect("put again"),
            Written::AlreadyExisted
        );
    }
    let other = Notification::new(
        user("u-2"),
        OrderId::parse("o-9").expect("valid"),
        NotificationKind::OrderCreated,
        "x",
        at(9),
    );
    store.put_notification(&other).await.expect("put");

    let mut listed = Vec::new();
    let mut request = PageRequest::first(2);
    loop {
        let page = store
            .list_notifications(&owner, &request)
            .await
            .expect("list");
        assert!(page.items.len() <= 2);
        listed.extend(page.items);
        match page.next_cursor {
            Some(cursor) => request.cursor = Some(cursor),
            None => break,
        }
    }
    let expected: Vec<Notification> = notices.into_iter().rev().collect();
    assert_eq!(listed, expected);
}

pub async fn orders_are_listed_per_user_newest_first<S: Store>(store: &S) {
    product(store, "a", 100, 100).await;
    for minute in [3, 1, 4, 0, 2] {
        store
            .place_order(&order(
                &format!("o-{minute}"),
                "u-1",
                minute,
                &[("a", 1, 100)],
            ))
            .await
            .expect("placed");
    }
    store
        .place_order(&order("o-other", "u-2", 9, &[("a", 1, 100)]))
        .await
        .expect("placed");
    let mut ids = Vec::new();
    let mut request = PageRequest::first(2);
    loop {
        let page = store
            .list_orders(&user("u-1"), &request)
            .await
            .expect("list");
        ids.extend(page.items.into_iter().map(|o| o.order_id.to_string()));
        match page.next_cursor {
            Some(cursor) => request.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(ids, ["o-4", "o-3", "o-2", "o-1", "o-0"]);
    let bad = PageRequest {
        limit: 2,
        cursor: Some("garbage".into()),
    };
    assert!(matches!(
        store.list_orders(&user("u-1"), &bad).await,
        Err(Error::Validation(_))
    ));
}

pub async fn products_are_listed_across_pages<S: Store>(store: &S) {
    for id in ["p1", "p2", "p3", "p4", "p5"] {
        product(store, id, 100, 1).await;
    }
    let mut ids = Vec::new();
    let mut request = PageRequest::first(2);
    loop {
        let page = store.list_products(&request).await.expect("list");
        ids.extend(page.items.into_iter().map(|p| p.product_id.to_string()));
        match page.next_cursor {
            Some(cursor) => request.cursor = Some(cursor),
            None => break,
        }
    }
    ids.sort();
    assert_eq!(ids, ["p1", "p2", "p3", "p4", "p5"]);
}

pub async fn a_sale_is_counted_once<S: Store>(store: &S) {
    let paid = order("o-1", "u-1", 0, &[("a", 2, 100), ("b", 1, 500)]);
    let paid_at = time::parse("2026-11-25T23:59:59.999Z").expect("valid time");
    assert_eq!(
        store.record_sale(&paid, paid_at).await.expect("record"),
        Written::Created
    );
    for _ in 0..2 {
        assert_eq!(
            store.record_sale(&paid, paid_at).await.expect("again"),
            Written::AlreadyExisted
        );
    }
    let other = order("o-2", "u-2", 0, &[("a", 1, 100)]);
    store.record_sale(&other, paid_at).await.expect("record");

    let day = store.daily_sales("2026-11-25").await.expect("daily");
    assert_eq!((day.paid_orders, day.revenue_cents), (2, 800));
    assert_eq!(
        store
            .product_sales(&product_id("a"))
            .await
            .expect("a")
            .units_sold,
        3
    );
    assert_eq!(
        store
            .product_sales(&product_id("b"))
            .await
            .expect("b")
            .units_sold,
        1
    );
    let quiet = store.daily_sales("2026-11-26").await.expect("daily");
    assert_eq!((quiet.paid_orders, quiet.revenue_cents), (0, 0));
}

/// Expands to one `#[tokio::test]` per contract function, each with a fresh store from `$make`
/// (an expression of a future that yields the store).
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@tests $make;
            placing_an_order_reserves_every_line,
            out_of_stock_names_every_short_line_and_reserves_nothing,
            unknown_products_are_named_and_nothing_is_reserved,
            an_order_at_a_changed_price_is_refused_with_the_product_as_it_is,
            a_short_line_outweighs_a_changed_price,
            an_order_and_its_products_are_read_together,
            placing_the_same_order_twice_reserves_once,
            paying_applies_once_and_reports_the_final_status,
            cancelling_restores_stock_and_notifies_exactly_once,
            a_paid_order_cannot_be_cancelled,
            notifications_are_written_once_and_listed_newest_first,
            orders_are_listed_per_user_newest_first,
            products_are_listed_across_pages,
            a_sale_is_counted_once,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let store = $make.await;
                $crate::testing::contract::$name(&store).await;
            }
        )+
    };
}
