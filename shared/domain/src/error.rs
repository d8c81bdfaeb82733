//! The one error type of the domain. Each variant is something a caller acts on differently.

use std::fmt;

use orderflow_types::{OrderStatus, Product, ProductId};

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The outside systems the domain depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    DynamoDb,
    Scheduler,
    Kafka,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DynamoDb => "DynamoDB",
            Self::Scheduler => "EventBridge Scheduler",
            Self::Kafka => "Kafka",
        })
    }
}

/// What a [`Error::NotFound`] or [`Error::AlreadyExists`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Order,
    Product,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Order => "order",
            Self::Product => "product",
        })
    }
}

/// A product that lacked stock for an order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shortage {
    pub product_id: ProductId,
    pub requested: u32,
    pub available: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is wrong; the same input will always fail.
    #[error("invalid input: {0}")]
    Validation(String),

    #[error("{resource} {id} not found")]
    NotFound { resource: Resource, id: String },

    /// The operation does not apply to the order in its current status.
    #[error("order is {current}")]
    WrongStatus { current: OrderStatus },

    /// The thing to create exists already.
    #[error("{resource} {id} already exists")]
    AlreadyExists { resource: Resource, id: String },

    #[error("not enough stock for {}", list(.0.iter().map(|s| &s.product_id)))]
    OutOfStock(Vec<Shortage>),

    #[error("unknown products: {}", list(.0.iter()))]
    UnknownProducts(Vec<ProductId>),

    /// An order was priced at prices that are no longer the products' own: here they are as they
    /// are now. Nothing was reserved; the order can be priced again and placed.
    #[error("prices changed for {}", list(.0.iter().map(|p| &p.product_id)))]
    PriceChanged(Vec<Product>),

    /// A dependency failed in a way that a retry may fix (timeouts, throttling, 5xx, broker down).
    #[error("{dependency} unavailable while trying to {action}")]
    Unavailable {
        dependency: Dependency,
        action: &'static str,
        #[source]
        source: BoxError,
    },

    /// A dependency refused the request in a way no retry fixes (missing table, access denied,
    /// malformed request): a deployment or programming error.
    #[error("{dependency} rejected the request to {action}")]
    Rejected {
        dependency: Dependency,
        action: &'static str,
        #[source]
        source: BoxError,
    },

    /// Stored data that does not decode: written by something else, or by a bug.
    #[error("stored {kind} is invalid: {detail}")]
    InvalidData { kind: &'static str, detail: String },
}

impl Error {
    /// Whether retrying the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    pub fn invalid_data(kind: &'static str, detail: impl fmt::Display) -> Self {
        Self::InvalidData {
            kind,
            detail: detail.to_string(),
        }
    }
}

fn list<T: fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items
        .map(|item| item.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The whole cause chain of an error on one line, for logs.
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_is_retryable() {
        let unavailable = Error::Unavailable {
            dependency: Dependency::Kafka,
            action: "publish an event",
            source: "broker down".into(),
        };
        let rejected = Error::Rejected {
            dependency: Dependency::DynamoDb,
            action: "get an order",
            source: "no such table".into(),
        };
        assert!(unavailable.is_retryable());
        assert!(!rejected.is_retryable());
        assert!(
            !Error::WrongStatus {
                current: OrderStatus::Paid
            }
            .is_retryable()
        );
        assert_eq!(
            cause_chain(&unavailable),
            "Kafka unavailable while trying to publish an event: broker down"
        );
    }

    #[test]
    fn stock_errors_name_the_products() {
        let shortage = |id: &str| Shortage {
            product_id: ProductId::parse(id).unwrap(),
            requested: 2,
            available: 1,
        };
        assert_eq!(
            Error::OutOfStock(vec![shortage("a"), shortage("b")]).to_string(),
            "not enough stock for a, b"
        );
        assert_eq!(
            Error::UnknownProducts(vec![ProductId::parse("zz").unwrap()]).to_string(),
            "unknown products: zz"
        );
    }
}
