//! Domain types to DynamoDB items and back. The only place that knows attribute names.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use orderflow_types::{
    CancelReason, Notification, NotificationKind, Order, OrderId, OrderLine, OrderStatus, Product,
    ProductId, Quantity, Timestamp, UserId, time,
};

use orderflow_domain::error::{Error, Result};

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Attribute names. Key attributes must match `schema/dynamodb.json` (a test checks).
pub(crate) mod attr {
    pub const PRODUCT_ID: &str = "product_id";
    pub const NAME: &str = "name";
    pub const PRICE_CENTS: &str = "price_cents";
    pub const STOCK: &str = "stock";

    pub const ORDER_ID: &str = "order_id";
    pub const USER_ID: &str = "user_id";
    pub const STATUS: &str = "status";
    pub const LINES: &str = "lines";
    pub const QUANTITY: &str = "quantity";
    pub const UNIT_PRICE_CENTS: &str = "unit_price_cents";
    pub const TOTAL_CENTS: &str = "total_cents";
    pub const CREATED_AT: &str = "created_at";
    pub const UPDATED_AT: &str = "updated_at";
    pub const PAYMENT_DUE_AT: &str = "payment_due_at";
    pub const CANCEL_REASON: &str = "cancel_reason";

    pub const NOTIFICATION_ID: &str = "notification_id";
    pub const KIND: &str = "kind";
    pub const MESSAGE: &str = "message";

    pub const STAT_KEY: &str = "stat_key";
    pub const PAID_ORDERS: &str = "paid_orders";
    pub const REVENUE_CENTS: &str = "revenue_cents";
    pub const UNITS_SOLD: &str = "units_sold";
    pub const PAID_AT: &str = "paid_at";
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn ts(at: &Timestamp) -> AttributeValue {
    AttributeValue::S(time::format(at))
}

/// Typed reads from an item, with errors that name the attribute.
pub(crate) struct Reader<'a> {
    item: &'a Item,
    kind: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(item: &'a Item, kind: &'static str) -> Self {
        Self { item, kind }
    }

    fn invalid(&self, name: &str, problem: &str) -> Error {
        Error::invalid_data(self.kind, format!("attribute {name} {problem}"))
    }

    pub(crate) fn opt_s(&self, name: &str) -> Result<Option<&'a str>> {
        match self.item.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(value)) => Ok(Some(value)),
            Some(_) => Err(self.invalid(name, "is not a string")),
        }
    }

    pub(crate) fn s(&self, name: &str) -> Result<&'a str> {
        self.opt_s(name)?
            .ok_or_else(|| self.invalid(name, "is missing"))
    }

    pub(crate) fn n<T: FromStr>(&self, name: &str) -> Result<T> {
        match self.item.get(name) {
            Some(AttributeValue::N(value)) => value
                .parse()
                .map_err(|_| self.invalid(name, "is out of range")),
            Some(_) => Err(self.invalid(name, "is not a number")),
            None => Err(self.invalid(name, "is missing")),
        }
    }

    /// A counter that has never been incremented is zero.
    pub(crate) fn counter(&self, name: &str) -> Result<u64> {
        if self.item.contains_key(name) {
            self.n(name)
        } else {
            Ok(0)
        }
    }

    pub(crate) fn parsed<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> std::result::Result<T, E>,
    ) -> Result<T> {
        let raw = self.s(name)?;
        parse(raw).map_err(|err| self.invalid(name, &format!("is invalid: {err}")))
    }

    pub(crate) fn timestamp(&self, name: &str) -> Result<Timestamp> {
        self.parsed(name, time::parse)
    }

    fn list(&self, name: &str) -> Result<&'a [AttributeValue]> {
        match self.item.get(name) {
            Some(AttributeValue::L(values)) => Ok(values),
            Some(_) => Err(self.invalid(name, "is not a list")),
            None => Err(self.invalid(name, "is missing")),
        }
    }
}

fn known<T>(value: Option<T>, what: &str) -> std::result::Result<T, String> {
    value.ok_or_else(|| format!("unknown {what}"))
}

pub(crate) fn product_to_item(product: &Product) -> Item {
    HashMap::from([
        (attr::PRODUCT_ID.into(), s(product.product_id.as_str())),
        (attr::NAME.into(), s(product.name.as_str())),
        (attr::PRICE_CENTS.into(), n(product.price_cents)),
        (attr::STOCK.into(), n(product.stock)),
    ])
}

pub(crate) fn product_from_item(item: &Item) -> Result<Product> {
    let r = Reader::new(item, "product");
    Ok(Product {
        product_id: r.parsed(attr::PRODUCT_ID, str::parse::<ProductId>)?,
        name: r.s(attr::NAME)?.to_owned(),
        price_cents: r.n(attr::PRICE_CENTS)?,
        stock: r.n(attr::STOCK)?,
    })
}

pub(crate) fn order_to_item(order: &Order) -> Item {
    let lines = order
        .lines
        .iter()
        .map(|line| {
            AttributeValue::M(HashMap::from([
                (attr::PRODUCT_ID.into(), s(line.product_id.as_str())),
                (attr::QUANTITY.into(), n(line.quantity.get())),
                (attr::UNIT_PRICE_CENTS.into(), n(line.unit_price_cents)),
            ]))
        })
        .collect();
    let mut item = HashMap::from([
        (attr::ORDER_ID.into(), s(order.order_id.as_str())),
        (attr::USER_ID.into(), s(order.user_id.as_str())),
        (attr::STATUS.into(), s(order.status.as_str())),
        (attr::LINES.into(), AttributeValue::L(lines)),
        (attr::TOTAL_CENTS.into(), n(order.total_cents)),
        (attr::CREATED_AT.into(), ts(&order.created_at)),
        (attr::UPDATED_AT.into(), ts(&order.updated_at)),
        (attr::PAYMENT_DUE_AT.into(), ts(&order.payment_due_at)),
    ]);
    if let Some(reason) = order.cancel_reason {
        item.insert(attr::CANCEL_REASON.into(), s(reason.as_str()));
    }
    item
}

pub(crate) fn order_from_item(item: &Item) -> Result<Order> {
    let r = Reader::new(item, "order");
    let lines = r
        .list(attr::LINES)?
        .iter()
        .map(|value| match value {
            AttributeValue::M(line) => {
                let l = Reader::new(line, "order line");
                Ok(OrderLine {
                    product_id: l.parsed(attr::PRODUCT_ID, str::parse::<ProductId>)?,
                    quantity: Quantity::new(l.n(attr::QUANTITY)?)
                        .map_err(|err| Error::invalid_data("order line", err))?,
                    unit_price_cents: l.n(attr::UNIT_PRICE_CENTS)?,
                })
            }
            _ => Err(Error::invalid_data("order", "a line is not a map")),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Order {
        order_id: r.parsed(attr::ORDER_ID, str::parse::<OrderId>)?,
        user_id: r.parsed(attr::USER_ID, str::parse::<UserId>)?,
        status: r.parsed(attr::STATUS, |raw| known(OrderStatus::parse(raw), "status"))?,
        lines,
        total_cents: r.n(attr::TOTAL_CENTS)?,
        created_at: r.timestamp(attr::CREATED_AT)?,
        updated_at: r.timestamp(attr::UPDATED_AT)?,
        payment_due_at: r.timestamp(attr::PAYMENT_DUE_AT)?,
        cancel_reason: match r.opt_s(attr::CANCEL_REASON)? {
            None => None,
            Some(_) => Some(r.parsed(attr::CANCEL_REASON, |raw| {
                known(CancelReason::parse(raw), "cancel reason")
            })?),
        },
    })
}

pub(crate) fn notification_to_item(notification: &Notification) -> Item {
    HashMap::from([
        (attr::USER_ID.into(), s(notification.user_id.as_str())),
        (
            attr::NOTIFICATION_ID.into(),
            s(notification.notification_id.as_str()),
        ),
        (attr::ORDER_ID.into(), s(notification.order_id.as_str())),
        (attr::KIND.into(), s(notification.kind.as_str())),
        (attr::MESSAGE.into(), s(notification.message.as_str())),
        (attr::CREATED_AT.into(), ts(&notification.created_at)),
    ])
}

pub(crate) fn notification_from_item(item: &Item) -> Result<Notification> {
    let r = Reader::new(item, "notification");
    Ok(Notification {
        user_id: r.parsed(attr::USER_ID, str::parse::<UserId>)?,
        notification_id: r.s(attr::NOTIFICATION_ID)?.to_owned(),
        order_id: r.parsed(attr::ORDER_ID, str::parse::<OrderId>)?,
        kind: r.parsed(attr::KIND, |raw| {
            known(NotificationKind::parse(raw), "kind")
        })?,
        message: r.s(attr::MESSAGE)?.to_owned(),
        created_at: r.timestamp(attr::CREATED_AT)?,
    })
}

/// Statistics item keys.
pub(crate) fn day_key(day: &str) -> String {
    format!("day#{day}")
}

pub(crate) fn product_sales_key(product: &ProductId) -> String {
    format!("product#{product}")
}

pub(crate) fn sale_marker_key(order: &OrderId) -> String {
    format!("sale#{order}")
}

/// Pagination cursors: a query's `LastEvaluatedKey` (string attributes only, as all our keys
/// are) as URL-safe base64 JSON. Opaque to clients, checked on the way back in.
pub(crate) fn encode_cursor(key: &Item) -> Result<String> {
    let mut plain = serde_json::Map::new();
    for (name, value) in key {
        match value {
            AttributeValue::S(text) => {
                plain.insert(name.clone(), serde_json::Value::String(text.clone()));
            }
            _ => {
                return Err(Error::invalid_data(
                    "page key",
                    format!("{name} is not a string"),
                ));
            }
        }
    }
    let json = serde_json::Value::Object(plain).to_string();
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Decodes a cursor, accepting it only if it has exactly the expected key attributes.
pub(crate) fn decode_cursor(cursor: &str, expected: &[&str]) -> Result<Item> {
    let invalid = || Error::Validation("cursor is not one this listing returned".into());
    let json = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let plain: HashMap<String, String> = serde_json::from_slice(&json).map_err(|_| invalid())?;
    let mut names: Vec<&str> = plain.keys().map(String::as_str).collect();
    let mut expected = expected.to_vec();
    names.sort_unstable();
    expected.sort_unstable();
    if names != expected {
        return Err(invalid());
    }
    Ok(plain
        .into_iter()
        .map(|(name, value)| (name, AttributeValue::S(value)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        let at = time::parse("2026-11-25T20:04:05.123Z").unwrap();
        let mut order = Order::new_pending(
            OrderId::parse("o-1").unwrap(),
            UserId::parse("auth0|u-1").unwrap(),
            vec![OrderLine {
                product_id: ProductId::parse("sku-1").unwrap(),
                quantity: Quantity::new(3).unwrap(),
                unit_price_cents: 250,
            }],
            at,
            at + chrono::Duration::minutes(30),
        );
        order.status = OrderStatus::Cancelled;
        order.cancel_reason = Some(CancelReason::PaymentTimeout);
        order
    }

    #[test]
    fn order_round_trips_through_an_item() {
        let order = order();
        assert_eq!(order_from_item(&order_to_item(&order)).unwrap(), order);
    }

    #[test]
    fn invalid_items_name_the_attribute() {
        let mut item = order_to_item(&order());
        item.insert(attr::STATUS.into(), s("SHIPPED"));
        let err = order_from_item(&item).unwrap_err().to_string();
        assert_eq!(
            err,
            "stored order is invalid: attribute status is invalid: unknown status"
        );
        item.remove(attr::TOTAL_CENTS);
        item.insert(attr::STATUS.into(), s("PAID"));
        let err = order_from_item(&item).unwrap_err().to_string();
        assert_eq!(
            err,
            "stored order is invalid: attribute total_cents is missing"
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_foreign_keys() {
        let key: Item = HashMap::from([
            (attr::USER_ID.into(), s("u")),
            (attr::CREATED_AT.into(), s("t")),
        ]);
        let cursor = encode_cursor(&key).unwrap();
        assert_eq!(
            decode_cursor(&cursor, &[attr::USER_ID, attr::CREATED_AT]).unwrap(),
            key
        );
        assert!(decode_cursor(&cursor, &[attr::ORDER_ID]).is_err());
        assert!(decode_cursor("not base64!", &[attr::ORDER_ID]).is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("[1]"), &[attr::ORDER_ID]).is_err());
    }
}
