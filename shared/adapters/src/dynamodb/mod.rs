//! The stores, on DynamoDB. Every state change is a conditional write whose condition states its
//! precondition; a failed condition is an expected outcome, mapped to a typed result.

pub mod admin;
mod codec;
mod idempotency;
pub mod schema;
pub mod stream;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    CancellationReason, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use orderflow_types::{
    CancelReason, DailySales, Notification, Order, OrderId, OrderStatus, Product, ProductId,
    ProductSales, Timestamp, UserId,
};
use tracing::{debug, instrument};

use self::codec::{Item, Reader, attr, n, s, ts};
use crate::dynamodb::schema::{TableNames, table};
use crate::{build_error, sdk_error};
use orderflow_domain::error::{Dependency, Error, Resource, Result, Shortage};
use orderflow_domain::ports::{
    NotificationStore, OrderStore, Page, PageRequest, ProductStore, SalesStore, Transition, Written,
};

pub use self::idempotency::DynamoIdempotencyStore;

const DYNAMODB: Dependency = Dependency::DynamoDb;
/// How many times a BatchGetItem is sent while DynamoDB leaves keys unprocessed, and the backoff
/// before each retry, times the attempt.
const BATCH_GET_ATTEMPTS: u32 = 4;
const BATCH_GET_BACKOFF: std::time::Duration = std::time::Duration::from_millis(25);
const ORDERS_BY_USER: &str = "by_user";
const NOTIFICATIONS_BY_TIME: &str = "by_created_at";

/// Every store port, on DynamoDB tables named by [`TableNames`].
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    products: String,
    orders: String,
    notifications: String,
    statistics: String,
}

impl DynamoStore {
    pub fn new(client: Client, tables: &TableNames) -> Self {
        Self {
            client,
            products: tables.name(table::PRODUCTS),
            orders: tables.name(table::ORDERS),
            notifications: tables.name(table::NOTIFICATIONS),
            statistics: tables.name(table::STATISTICS),
        }
    }

    async fn get_item(&self, table: &str, key: Item, action: &'static str) -> Result<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| sdk_error(DYNAMODB, action, err))?;
        Ok(output.item)
    }

    /// Runs a transaction; on cancellation returns the per-item reasons for the caller to
    /// interpret, unless a retry could fix it.
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        action: &'static str,
    ) -> Result<Result<(), Vec<CancellationReason>>> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    let reasons = cancelled.cancellation_reasons().to_vec();
                    match cancellation(&reasons) {
                        Cancellation::FailedCondition => Ok(Err(reasons)),
                        Cancellation::Transient => Err(Error::Unavailable {
                            dependency: DYNAMODB,
                            action,
                            source: Box::new(err),
                        }),
                        Cancellation::Refused => Err(Error::Rejected {
                            dependency: DYNAMODB,
                            action,
                            source: Box::new(err),
                        }),
                    }
                }
                _ => Err(sdk_error(DYNAMODB, action, err)),
            },
        }
    }

    /// One page of a user's items from an index keyed by `user_id` and `created_at`, newest first.
    async fn newest_first<T>(
        &self,
        query: UserQuery<'_>,
        user: &UserId,
        request: &PageRequest,
        decode: impl Fn(&Item) -> Result<T>,
    ) -> Result<Page<T>> {
        let output = self
            .client
            .query()
            .table_name(query.table)
            .index_name(query.index)
            .key_condition_expression("#user = :user")
            .expression_attribute_names("#user", attr::USER_ID)
            .expression_attribute_values(":user", s(user.as_str()))
            .scan_index_forward(false)
            .limit(i32::from(request.limit))
            .set_exclusive_start_key(start_key(request, query.page_key)?)
            .send()
            .await
            .map_err(|err| sdk_error(DYNAMODB, query.action, err))?;
        page(output.items, output.last_evaluated_key, decode)
    }
}

/// A per-user listing: which table and index, and the attributes of its page keys.
struct UserQuery<'a> {
    table: &'a str,
    index: &'static str,
    page_key: &'static [&'static str],
    action: &'static str,
}

fn code(reason: &CancellationReason) -> &str {
    reason.code().unwrap_or("None")
}

/// Why DynamoDB cancelled a transaction, as the caller acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancellation {
    /// A condition failed: the reasons say which item, for the caller to interpret.
    FailedCondition,
    /// A conflicting transaction or throttling: a retry may succeed.
    Transient,
    /// Anything else (a validation error, an item too large): no retry fixes it.
    Refused,
}

fn cancellation(reasons: &[CancellationReason]) -> Cancellation {
    if reasons.iter().any(failed_condition) {
        Cancellation::FailedCondition
    } else if reasons.iter().any(|r| {
        matches!(
            code(r),
            "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
        )
    }) {
        Cancellation::Transient
    } else {
        Cancellation::Refused
    }
}

fn failed_condition(reason: &CancellationReason) -> bool {
    code(reason) == "ConditionalCheckFailed"
}

fn key(name: &str, value: &str) -> Item {
    HashMap::from([(name.to_owned(), s(value))])
}

fn page<T>(
    items: Option<Vec<Item>>,
    last_key: Option<Item>,
    decode: impl Fn(&Item) -> Result<T>,
) -> Result<Page<T>> {
    Ok(Page {
        items: items
            .unwrap_or_default()
            .iter()
            .map(decode)
            .collect::<Result<_>>()?,
        next_cursor: last_key.as_ref().map(codec::encode_cursor).transpose()?,
    })
}

fn start_key(page: &PageRequest, key_attributes: &[&str]) -> Result<Option<Item>> {
    page.cursor
        .as_deref()
        .map(|cursor| codec::decode_cursor(cursor, key_attributes))
        .transpose()
}

impl ProductStore for DynamoStore {
    #[instrument(skip_all, fields(product_id = %product.product_id))]
    async fn put_product(&self, product: &Product) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.products)
            .set_item(Some(codec::product_to_item(product)))
            .send()
            .await
            .map_err(|err| sdk_error(DYNAMODB, "put a product", err))?;
        Ok(())
    }

    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>> {
        let item = self
            .get_item(
                &self.products,
                key(attr::PRODUCT_ID, id.as_str()),
                "get a product",
            )
            .await?;
        item.as_ref().map(codec::product_from_item).transpose()
    }

    async fn list_products(&self, request: &PageRequest) -> Result<Page<Product>> {
        let output = self
            .client
            .scan()
            .table_name(&self.products)
            .limit(i32::from(request.limit))
            .set_exclusive_start_key(start_key(request, &[attr::PRODUCT_ID])?)
            .send()
            .await
            .map_err(|err| sdk_error(DYNAMODB, "list products", err))?;
        page(
            output.items,
            output.last_evaluated_key,
            codec::product_from_item,
        )
    }
}

impl OrderStore for DynamoStore {
    #[instrument(skip_all, fields(order_id = %order.order_id, lines = order.lines.len()))]
    async fn place_order(&self, order: &Order) -> Result<()> {
        const ACTION: &str = "place an order";
        let put_order = Put::builder()
            .table_name(&self.orders)
            .set_item(Some(codec::order_to_item(order)))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", attr::ORDER_ID)
            .build()
            .map_err(|err| build_error(DYNAMODB, ACTION, err))?;
        let mut items = vec![TransactWriteItem::builder().put(put_order).build()];
        for line in &order.lines {
            let reserve = Update::builder()
                .table_name(&self.products)
                .set_key(Some(key(attr::PRODUCT_ID, line.product_id.as_str())))
                .update_expression("SET #stock = #stock - :quantity")
                // The line's price is the product's price now: the order may have been priced
                // from what the function remembered (orderflow_domain::catalogue).
                .condition_expression(
                    "attribute_exists(#id) AND #stock >= :quantity AND #price = :price",
                )
                .expression_attribute_names("#id", attr::PRODUCT_ID)
                .expression_attribute_names("#stock", attr::STOCK)
                .expression_attribute_names("#price", attr::PRICE_CENTS)
                .expression_attribute_values(":quantity", n(line.quantity.get()))
                .expression_attribute_values(":price", n(line.unit_price_cents))
                // On failure DynamoDB returns the product as it was: whether it exists, its stock
                // and its price.
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(|err| build_error(DYNAMODB, ACTION, err))?;
            items.push(TransactWriteItem::builder().update(reserve).build());
        }
        let Err(reasons) = self.transact(items, ACTION).await? else {
            debug!("order placed and stock reserved");
            return Ok(());
        };
        if reasons.first().is_some_and(failed_condition) {
            return Err(Error::AlreadyExists {
                resource: Resource::Order,
                id: order.order_id.to_string(),
            });
        }
        let mut unknown = Vec::new();
        let mut short = Vec::new();
        let mut repriced = Vec::new();
        for (line, reason) in order.lines.iter().zip(reasons.iter().skip(1)) {
            if !failed_condition(reason) {
                continue;
            }
            let Some(item) = reason.item() else {
                unknown.push(line.product_id.clone());
                continue;
            };
            // The product exists, so either its stock or its price failed the condition.
            let product = codec::product_from_item(item)?;
            if product.stock < u64::from(line.quantity.get()) {
                short.push(Shortage {
                    product_id: line.product_id.clone(),
                    requested: line.quantity.get(),
                    available: product.stock,
                });
            } else {
                repriced.push(product);
            }
        }
        Err(if !unknown.is_empty() {
            Error::UnknownProducts(unknown)
        } else if !short.is_empty() {
            Error::OutOfStock(short)
        } else if !repriced.is_empty() {
            Error::PriceChanged(repriced)
        } else {
            // DynamoDB names the item whose condition failed; none of the lines' did, nor the
            // order's, so the reasons do not match the request.
            Error::invalid_data(
                "transaction cancellation",
                "no condition of the order's items failed",
            )
        })
    }

    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>> {
        let item = self
            .get_item(
                &self.orders,
                key(attr::ORDER_ID, id.as_str()),
                "get an order",
            )
            .await?;
        item.as_ref().map(codec::order_from_item).transpose()
    }

    #[instrument(skip_all, fields(order_id = %id, products = products.len()))]
    async fn order_and_products(
        &self,
        id: &OrderId,
        products: &[ProductId],
    ) -> Result<(Option<Order>, Vec<Product>)> {
        const ACTION: &str = "read an order and its products";
        let mut product_keys: Vec<Item> = Vec::new();
        for product in products {
            let key = key(attr::PRODUCT_ID, product.as_str());
            // BatchGetItem refuses a request that names a key twice.
            if !product_keys.contains(&key) {
                product_keys.push(key);
            }
        }
        // One call reads both tables, up to its limit of 100 keys; an order has at most 50 lines.
        let mut pending = HashMap::new();
        for (table, keys) in [
            (&self.orders, vec![key(attr::ORDER_ID, id.as_str())]),
            (&self.products, product_keys),
        ] {
            if keys.is_empty() {
                continue;
            }
            let keys = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|err| build_error(DYNAMODB, ACTION, err))?;
            pending.insert(table.clone(), keys);
        }
        let mut order = None;
        let mut found = Vec::new();
        // DynamoDB may leave keys unprocessed when throttled: they are asked for again, a few
        // times, as its documentation advises, with a short backoff.
        for attempt in 0..BATCH_GET_ATTEMPTS {
            if pending.is_empty() {
                return Ok((order, found));
            }
            if attempt > 0 {
                tokio::time::sleep(BATCH_GET_BACKOFF * attempt).await;
            }
            let output = self
                .client
                .batch_get_item()
                .set_request_items(Some(std::mem::take(&mut pending)))
                .send()
                .await
                .map_err(|err| sdk_error(DYNAMODB, ACTION, err))?;
            for (table, items) in output.responses.unwrap_or_default() {
                for item in &items {
                    if table == self.orders {
                        order = Some(codec::order_from_item(item)?);
                    } else {
                        found.push(codec::product_from_item(item)?);
                    }
                }
            }
            pending = output.unprocessed_keys.unwrap_or_default();
        }
        if pending.is_empty() {
            return Ok((order, found));
        }
        Err(Error::Unavailable {
            dependency: DYNAMODB,
            action: ACTION,
            source: format!(
                "keys still unprocessed after {BATCH_GET_ATTEMPTS} attempts (throttled)"
            )
            .into(),
        })
    }

    async fn list_orders(&self, user: &UserId, request: &PageRequest) -> Result<Page<Order>> {
        let query = UserQuery {
            table: &self.orders,
            index: ORDERS_BY_USER,
            page_key: &[attr::ORDER_ID, attr::USER_ID, attr::CREATED_AT],
            action: "list a user's orders",
        };
        self.newest_first(query, user, request, codec::order_from_item)
            .await
    }

    #[instrument(skip_all, fields(order_id = %id))]
    async fn mark_paid(&self, id: &OrderId, at: Timestamp) -> Result<Transition> {
        let result = self
            .client
            .update_item()
            .table_name(&self.orders)
            .set_key(Some(key(attr::ORDER_ID, id.as_str())))
            .update_expression("SET #status = :paid, #updated = :at")
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#updated", attr::UPDATED_AT)
            .expression_attribute_values(":paid", s(OrderStatus::Paid.as_str()))
            .expression_attribute_values(":pending", s(OrderStatus::Pending.as_str()))
            .expression_attribute_values(":at", ts(&at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                Ok(Transition::Applied(codec::order_from_item(&item)?))
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // Not PENDING, or not there at all: read it to tell which.
                match self.get_order(id).await? {
                    Some(current) => Ok(Transition::NotPending(current)),
                    None => Err(Error::NotFound {
                        resource: Resource::Order,
                        id: id.to_string(),
                    }),
                }
            }
            Err(err) => Err(sdk_error(DYNAMODB, "mark an order paid", err)),
        }
    }

    #[instrument(skip_all, fields(order_id = %order.order_id, reason = reason.as_str()))]
    async fn cancel_order(
        &self,
        order: &Order,
        reason: CancelReason,
        notification: &Notification,
        at: Timestamp,
    ) -> Result<Transition> {
        const ACTION: &str = "cancel an order";
        let cancel = Update::builder()
            .table_name(&self.orders)
            .set_key(Some(key(attr::ORDER_ID, order.order_id.as_str())))
            .update_expression("SET #status = :cancelled, #updated = :at, #reason = :reason")
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#updated", attr::UPDATED_AT)
            .expression_attribute_names("#reason", attr::CANCEL_REASON)
            .expression_attribute_values(":cancelled", s(OrderStatus::Cancelled.as_str()))
            .expression_attribute_values(":pending", s(OrderStatus::Pending.as_str()))
            .expression_attribute_values(":at", ts(&at))
            .expression_attribute_values(":reason", s(reason.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|err| build_error(DYNAMODB, ACTION, err))?;
        let mut items = vec![TransactWriteItem::builder().update(cancel).build()];
        for line in &order.lines {
            let restore = Update::builder()
                .table_name(&self.products)
                .set_key(Some(key(attr::PRODUCT_ID, line.product_id.as_str())))
                .update_expression("ADD #stock :quantity")
                .expression_attribute_names("#stock", attr::STOCK)
                .expression_attribute_values(":quantity", n(line.quantity.get()))
                .build()
                .map_err(|err| build_error(DYNAMODB, ACTION, err))?;
            items.push(TransactWriteItem::builder().update(restore).build());
        }
        // Unconditional: the id is deterministic, so a rewrite writes the same notification.
        let notify = Put::builder()
            .table_name(&self.notifications)
            .set_item(Some(codec::notification_to_item(notification)))
            .build()
            .map_err(|err| build_error(DYNAMODB, ACTION, err))?;
        items.push(TransactWriteItem::builder().put(notify).build());

        match self.transact(items, ACTION).await? {
            Ok(()) => {
                let mut cancelled = order.clone();
                cancelled.status = OrderStatus::Cancelled;
                cancelled.cancel_reason = Some(reason);
                cancelled.updated_at = at;
                Ok(Transition::Applied(cancelled))
            }
            Err(reasons) => match reasons.first().and_then(CancellationReason::item) {
                Some(current) => Ok(Transition::NotPending(codec::order_from_item(current)?)),
                None => Err(Error::NotFound {
                    resource: Resource::Order,
                    id: order.order_id.to_string(),
                }),
            },
        }
    }
}

impl NotificationStore for DynamoStore {
    #[instrument(skip_all, fields(order_id = %notification.order_id, kind = notification.kind.as_str()))]
    async fn put_notification(&self, notification: &Notification) -> Result<Written> {
        let result = self
            .client
            .put_item()
            .table_name(&self.notifications)
            .set_item(Some(codec::notification_to_item(notification)))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", attr::NOTIFICATION_ID)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Created),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                debug!("notification exists already");
                Ok(Written::AlreadyExisted)
            }
            Err(err) => Err(sdk_error(DYNAMODB, "write a notification", err)),
        }
    }

    async fn list_notifications(
        &self,
        user: &UserId,
        request: &PageRequest,
    ) -> Result<Page<Notification>> {
        let query = UserQuery {
            table: &self.notifications,
            index: NOTIFICATIONS_BY_TIME,
            page_key: &[attr::USER_ID, attr::NOTIFICATION_ID, attr::CREATED_AT],
            action: "list a user's notifications",
        };
        self.newest_first(query, user, request, codec::notification_from_item)
            .await
    }
}

impl SalesStore for DynamoStore {
    #[instrument(skip_all, fields(order_id = %order.order_id))]
    async fn record_sale(&self, order: &Order, paid_at: Timestamp) -> Result<Written> {
        const ACTION: &str = "record a sale";
        let marker = Put::builder()
            .table_name(&self.statistics)
            .item(attr::STAT_KEY, s(codec::sale_marker_key(&order.order_id)))
            .item(attr::PAID_AT, ts(&paid_at))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", attr::STAT_KEY)
            .build()
            .map_err(|err| build_error(DYNAMODB, ACTION, err))?;
        let day = paid_at.format("%Y-%m-%d").to_string();
        let per_day = Update::builder()
            .table_name(&self.statistics)
            .set_key(Some(key(attr::STAT_KEY, &codec::day_key(&day))))
            .update_expression("ADD #orders :one, #revenue :revenue")
            .expression_attribute_names("#orders", attr::PAID_ORDERS)
            .expression_attribute_names("#revenue", attr::REVENUE_CENTS)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":revenue", n(order.total_cents))
            .build()
            .map_err(|err| build_error(DYNAMODB, ACTION, err))?;
        let mut items = vec![
            TransactWriteItem::builder().put(marker).build(),
            TransactWriteItem::builder().update(per_day).build(),
        ];
        for line in &order.lines {
            let per_product = Update::builder()
                .table_name(&self.statistics)
                .set_key(Some(key(
                    attr::STAT_KEY,
                    &codec::product_sales_key(&line.product_id),
                )))
                .update_expression("ADD #units :units")
                .expression_attribute_names("#units", attr::UNITS_SOLD)
                .expression_attribute_values(":units", n(line.quantity.get()))
                .build()
                .map_err(|err| build_error(DYNAMODB, ACTION, err))?;
            items.push(TransactWriteItem::builder().update(per_product).build());
        }
        match self.transact(items, ACTION).await? {
            Ok(()) => Ok(Written::Created),
            Err(_) => {
                debug!("sale counted before");
                Ok(Written::AlreadyExisted)
            }
        }
    }

    async fn daily_sales(&self, day: &str) -> Result<DailySales> {
        let item = self
            .get_item(
                &self.statistics,
                key(attr::STAT_KEY, &codec::day_key(day)),
                "read daily sales",
            )
            .await?
            .unwrap_or_default();
        let r = Reader::new(&item, "daily sales");
        Ok(DailySales {
            day: day.to_owned(),
            paid_orders: r.counter(attr::PAID_ORDERS)?,
            revenue_cents: r.counter(attr::REVENUE_CENTS)?,
        })
    }

    async fn product_sales(&self, product: &ProductId) -> Result<ProductSales> {
        let item = self
            .get_item(
                &self.statistics,
                key(attr::STAT_KEY, &codec::product_sales_key(product)),
                "read product sales",
            )
            .await?
            .unwrap_or_default();
        Ok(ProductSales {
            product_id: product.clone(),
            units_sold: Reader::new(&item, "product sales").counter(attr::UNITS_SOLD)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::CancellationReason;

    use super::codec::attr;
    use super::{Cancellation, cancellation};
    use crate::dynamodb::schema::{TABLES, table};

    fn reasons(codes: &[&str]) -> Vec<CancellationReason> {
        codes
            .iter()
            .map(|code| CancellationReason::builder().code(*code).build())
            .collect()
    }

    #[test]
    fn cancelled_transactions_are_classified_by_their_reasons() {
        for (codes, expected) in [
            (
                &["None", "ConditionalCheckFailed"][..],
                Cancellation::FailedCondition,
            ),
            // A failed condition wins: the caller learns which item it was.
            (
                &["TransactionConflict", "ConditionalCheckFailed"],
                Cancellation::FailedCondition,
            ),
            (&["None", "TransactionConflict"], Cancellation::Transient),
            (&["ThrottlingError"], Cancellation::Transient),
            (
                &["ProvisionedThroughputExceeded", "None"],
                Cancellation::Transient,
            ),
            (&["ValidationError"], Cancellation::Refused),
            (&["ItemCollectionSizeLimitExceeded"], Cancellation::Refused),
        ] {
            assert_eq!(cancellation(&reasons(codes)), expected, "{codes:?}");
        }
    }

    #[test]
    fn key_attributes_in_code_match_the_schema() {
        let keys = |name: &str| {
            let spec = &TABLES[name];
            (spec.hash_key.clone(), spec.range_key.clone())
        };
        assert_eq!(keys(table::PRODUCTS), (attr::PRODUCT_ID.into(), None));
        assert_eq!(keys(table::ORDERS), (attr::ORDER_ID.into(), None));
        assert_eq!(
            keys(table::NOTIFICATIONS),
            (attr::USER_ID.into(), Some(attr::NOTIFICATION_ID.into()))
        );
        assert_eq!(keys(table::STATISTICS), (attr::STAT_KEY.into(), None));

        let orders = &TABLES[table::ORDERS].global_secondary_indexes[0];
        assert_eq!(orders.name, super::ORDERS_BY_USER);
        assert_eq!(
            (orders.hash_key.as_deref(), orders.range_key.as_str()),
            (Some(attr::USER_ID), attr::CREATED_AT)
        );
        let notifications = &TABLES[table::NOTIFICATIONS].local_secondary_indexes[0];
        assert_eq!(notifications.name, super::NOTIFICATIONS_BY_TIME);
        assert_eq!(notifications.range_key, attr::CREATED_AT);
    }
}
