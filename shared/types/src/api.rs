//! Request and response bodies of the HTTP API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::ProductId;
use crate::notification::Notification;
use crate::order::{Order, Product, Quantity};

/// `POST /orders`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    pub items: Vec<OrderItemRequest>,
}

/// One requested line. Fields stay loosely typed here so that validation can name the exact field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderItemRequest {
    pub product_id: String,
    pub quantity: serde_json::Number,
}

/// A request field that failed validation, named by its path (`items[2].quantity`).
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl CreateOrderRequest {
    /// The most lines one order may have. It also keeps the reservation, one item per line plus
    /// the order itself, far below DynamoDB's 100-item transaction limit.
    pub const MAX_LINES: usize = 50;

    /// Validates every item and merges lines of the same product, in first-seen order.
    /// Returns every problem found, not only the first.
    pub fn validate(&self) -> Result<Vec<(ProductId, Quantity)>, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.items.is_empty() || self.items.len() > Self::MAX_LINES {
            errors.push(FieldError {
                field: "items".into(),
                message: format!("must have 1 to {} items", Self::MAX_LINES),
            });
        }
        let mut merged: Vec<(ProductId, u64)> = Vec::new();
        let mut position: BTreeMap<ProductId, usize> = BTreeMap::new();
        for (index, item) in self.items.iter().enumerate() {
            let product = ProductId::parse(item.product_id.as_str()).map_err(|err| FieldError {
                field: format!("items[{index}].product_id"),
                message: err.reason.to_string(),
            });
            let quantity = item
                .quantity
                .as_u64()
                .and_then(|units| Quantity::new(units).ok())
                .ok_or_else(|| FieldError {
                    field: format!("items[{index}].quantity"),
                    message: format!("must be an integer from 1 to {}", Quantity::MAX),
                });
            match (product, quantity) {
                (Ok(product), Ok(quantity)) => match position.get(&product) {
                    Some(&at) => merged[at].1 += u64::from(quantity.get()),
                    None => {
                        position.insert(product.clone(), merged.len());
                        merged.push((product, u64::from(quantity.get())));
                    }
                },
                (product, quantity) => {
                    errors.extend(product.err().into_iter().chain(quantity.err()))
                }
            }
        }
        let lines = merged
            .into_iter()
            .filter_map(|(product, units)| match Quantity::new(units) {
                Ok(quantity) => Some((product, quantity)),
                Err(_) => {
                    errors.push(FieldError {
                        field: "items".into(),
                        message: format!(
                            "product {product} is requested {units} times in all, more than {}",
                            Quantity::MAX
                        ),
                    });
                    None
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(lines)
        } else {
            Err(errors)
        }
    }
}

/// A page of results, newest first. `next_cursor`, when present, fetches the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub type OrderPage = Page<Order>;
pub type NotificationPage = Page<Notification>;
pub type ProductPage = Page<Product>;

/// `PUT /products/{id}` (administrators only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutProductRequest {
    pub name: String,
    pub price_cents: u64,
    pub stock: u64,
}

/// Every error response: a stable machine-readable `code`, a human `message`, optional details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> CreateOrderRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn duplicate_products_are_merged_in_first_seen_order() {
        let lines = request(
            r#"{"items":[{"product_id":"b","quantity":2},{"product_id":"a","quantity":1},
                         {"product_id":"b","quantity":3}]}"#,
        )
        .validate()
        .unwrap();
        let lines: Vec<_> = lines.iter().map(|(p, q)| (p.as_str(), q.get())).collect();
        assert_eq!(lines, [("b", 5), ("a", 1)]);
    }

    #[test]
    fn every_invalid_field_is_reported_by_path() {
        let errors = request(
            r#"{"items":[{"product_id":"ok","quantity":1.5},{"product_id":"no spaces","quantity":0},
                         {"product_id":"x","quantity":-3}]}"#,
        )
        .validate()
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "items[0].quantity",
                "items[1].product_id",
                "items[1].quantity",
                "items[2].quantity"
            ]
        );
    }

    #[test]
    fn empty_and_oversized_orders_are_rejected() {
        assert_eq!(
            request(r#"{"items":[]}"#).validate().unwrap_err()[0].field,
            "items"
        );
        let items = (0..51)
            .map(|i| format!(r#"{{"product_id":"p{i}","quantity":1}}"#))
            .collect::<Vec<_>>()
            .join(",");
        let errors = request(&format!(r#"{{"items":[{items}]}}"#))
            .validate()
            .unwrap_err();
        assert_eq!(errors[0].message, "must have 1 to 50 items");
    }

    #[test]
    fn merged_quantity_above_the_limit_is_rejected() {
        let errors = request(
            r#"{"items":[{"product_id":"a","quantity":600},{"product_id":"a","quantity":600}]}"#,
        )
        .validate()
        .unwrap_err();
        assert!(errors[0].message.contains("1200 times"), "{errors:?}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(
            serde_json::from_str::<CreateOrderRequest>(r#"{"items":[],"user_id":"u"}"#).is_err()
        );
        assert!(
            serde_json::from_str::<CreateOrderRequest>(
                r#"{"items":[{"product_id":"a","quantity":1,"price":0}]}"#
            )
            .is_err()
        );
    }
}
